package session

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
)

// TestColdResetRefusesLoginsInProgress: the manager takes logins (Up) and TARGET COLD
// RESETs one at a time. A session whose Up it took before the reset is admitted and
// then ended by the reset; one of the target whose connection was accepted before
// the reset and whose Up comes after it is refused (its connection then answers
// the login with 0301 and closes); one of another target is admitted.
func TestColdResetRefusesLoginsInProgress(t *testing.T) {
	sys := actor.NewActorSystem()
	const target, other = "iqn.t", "iqn.other"
	type probe struct {
		pid *actor.PID
		got chan any
	}
	newProbe := func() probe {
		p := probe{got: make(chan any, 8)}
		p.pid = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *conn.Admit, *conn.End, *proceed:
				p.got <- m
			}
		}))
		return p
	}
	early, late, elsewhere, asker := newProbe(), newProbe(), newProbe(), newProbe()
	m := newManager(conn.Config{}, hclog.NewNullLogger())
	for _, p := range []probe{early, late, elsewhere, asker} {
		m.clock++
		m.born[p.pid.Id] = m.clock // accepted before the reset
	}
	mgr := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return m }))
	defer sys.Root.Stop(mgr)

	up := func(p probe, tgt string) {
		sys.Root.Send(mgr, &Up{Key: p.pid.Id + "," + tgt, PID: p.pid, Info: &Info{Target: tgt}})
	}
	next := func(p probe, what string) any {
		t.Helper()
		select {
		case m := <-p.got:
			return m
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no message from the manager", what)
			return nil
		}
	}
	admitted := func(p probe, what string) {
		t.Helper()
		if a, ok := next(p, what).(*conn.Admit); !ok || a.Refused != "" {
			t.Fatalf("%s: want Admit, got %#v", what, a)
		}
		if _, ok := next(p, what).(*proceed); !ok {
			t.Fatalf("%s: want proceed after Admit", what)
		}
	}

	up(asker, target)
	admitted(asker, "the asking session")
	up(early, target)
	admitted(early, "session logged in before the reset")
	sys.Root.Send(mgr, &coldReset{target: target, from: asker.pid})
	up(late, target)
	up(elsewhere, other)

	if e, ok := next(early, "session logged in before the reset").(*conn.End); !ok {
		t.Fatalf("session logged in before the reset: want End, got %#v", e)
	}
	if a, ok := next(late, "login in progress during the reset").(*conn.Admit); !ok || a.Refused == "" {
		t.Fatalf("login in progress during the reset: want a refusing Admit, got %#v", a)
	}
	admitted(elsewhere, "login to another target")
	time.Sleep(100 * time.Millisecond)
	for name, p := range map[string]probe{"refused": late, "asker": asker, "other target": elsewhere} {
		select {
		case m := <-p.got:
			t.Errorf("%s session: unexpected %#v", name, m)
		default:
		}
	}
}
