package session

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
)

// probe stands in for a session's actor: it records what the manager sends it.
type probe struct {
	pid *actor.PID
	got chan any
}

func newProbe(sys *actor.ActorSystem) probe {
	p := probe{got: make(chan any, 8)}
	p.pid = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *conn.Admit, *conn.End, *conn.RequestLogout, *proceed, *replace:
			p.got <- m
		}
	}))
	return p
}

// next is the probe's next message from the manager.
func (p probe) next(t *testing.T, what string) any {
	t.Helper()
	select {
	case m := <-p.got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no message from the manager", what)
		return nil
	}
}

// admitted checks that the manager admitted the probe's login and let it proceed.
func (p probe) admitted(t *testing.T, what string) {
	t.Helper()
	if a, ok := p.next(t, what).(*conn.Admit); !ok || a.Refused != "" {
		t.Fatalf("%s: want Admit, got %#v", what, a)
	}
	if _, ok := p.next(t, what).(*proceed); !ok {
		t.Fatalf("%s: want proceed after Admit", what)
	}
}

// refused checks that the manager refused the probe's login.
func (p probe) refused(t *testing.T, what string) {
	t.Helper()
	if a, ok := p.next(t, what).(*conn.Admit); !ok || a.Refused == "" {
		t.Fatalf("%s: want a refusing Admit, got %#v", what, a)
	}
}

// quiet checks that the probes got nothing more.
func quiet(t *testing.T, probes map[string]probe) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	for name, p := range probes {
		select {
		case m := <-p.got:
			t.Errorf("%s session: unexpected %#v", name, m)
		default:
		}
	}
}

// managerWith starts a manager whose connections for probes were all accepted
// before anything the test sends it.
func managerWith(t *testing.T, sys *actor.ActorSystem, probes ...probe) *actor.PID {
	m := newManager(conn.Config{}, hclog.NewNullLogger())
	for _, p := range probes {
		m.clock++
		m.born[p.pid.Id] = m.clock
	}
	mgr := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return m }))
	t.Cleanup(func() { sys.Root.Stop(mgr) })
	return mgr
}

func up(sys *actor.ActorSystem, mgr *actor.PID, p probe, tgt string) {
	sys.Root.Send(mgr, &Up{Key: p.pid.Id + "," + tgt, PID: p.pid, Info: &Info{Target: tgt}})
}

// TestColdResetRefusesLoginsInProgress: the manager takes logins (Up) and TARGET COLD
// RESETs one at a time. A session whose Up it took before the reset is admitted and
// then ended by the reset; one of the target whose connection was accepted before
// the reset and whose Up comes after it is refused (its connection then answers
// the login with 0301 and closes); one of another target is admitted.
func TestColdResetRefusesLoginsInProgress(t *testing.T) {
	sys := actor.NewActorSystem()
	const target, other = "iqn.t", "iqn.other"
	early, late, elsewhere, asker := newProbe(sys), newProbe(sys), newProbe(sys), newProbe(sys)
	mgr := managerWith(t, sys, early, late, elsewhere, asker)

	up(sys, mgr, asker, target)
	asker.admitted(t, "the asking session")
	up(sys, mgr, early, target)
	early.admitted(t, "session logged in before the reset")
	sys.Root.Send(mgr, &coldReset{target: target, from: asker.pid})
	up(sys, mgr, late, target)
	up(sys, mgr, elsewhere, other)

	if e, ok := early.next(t, "session logged in before the reset").(*conn.End); !ok {
		t.Fatalf("session logged in before the reset: want End, got %#v", e)
	}
	late.refused(t, "login in progress during the reset")
	elsewhere.admitted(t, "login to another target")
	quiet(t, map[string]probe{"refused": late, "asker": asker, "other target": elsewhere})
}

// TestTargetLogoutRefusesLoginsInProgress: removing a target (or a fenced store)
// ends its sessions with a Logout of the whole target. A login that passed the
// access check before the removal and completes after the Logout was taken is
// refused: the Logout's list of sessions could not hold it, and admitted it would
// serve a removed target. A Logout of one session (by TSIH) refuses nothing.
func TestTargetLogoutRefusesLoginsInProgress(t *testing.T) {
	sys := actor.NewActorSystem()
	const target, other = "iqn.t", "iqn.other"
	early, late, elsewhere, afterOne := newProbe(sys), newProbe(sys), newProbe(sys), newProbe(sys)
	mgr := managerWith(t, sys, early, late, elsewhere, afterOne)

	up(sys, mgr, early, target)
	early.admitted(t, "session logged in before the removal")
	done := make(chan [2]int, 1)
	sys.Root.Send(mgr, &Logout{Target: target, Within: time.Minute, Done: func(a, c int) { done <- [2]int{a, c} }})
	up(sys, mgr, late, target)
	up(sys, mgr, elsewhere, other)

	if r, ok := early.next(t, "session logged in before the removal").(*conn.RequestLogout); !ok {
		t.Fatalf("session logged in before the removal: want RequestLogout, got %#v", r)
	}
	late.refused(t, "login in progress during the removal")
	elsewhere.admitted(t, "login to another target")

	sys.Root.Send(mgr, &Logout{TSIH: 77, Within: time.Minute, Done: func(int, int) {}})
	up(sys, mgr, afterOne, other)
	afterOne.admitted(t, "login after a Logout of one session")
	quiet(t, map[string]probe{"refused": late, "other target": elsewhere, "after one": afterOne})
	select {
	case r := <-done:
		t.Fatalf("the target's Logout finished (%v) while its session had not ended", r)
	default:
	}
}
