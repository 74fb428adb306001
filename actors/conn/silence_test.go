package conn

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// silenceProbe is an actor that uses a connection's silence timer: a string is
// something heard, "set" sets the timer to d, and each silence reported goes to
// fired.
type silenceProbe struct {
	c     connActor
	d     time.Duration
	rearm bool
	fired chan time.Time
}

func (p *silenceProbe) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *silenceCheck:
		if p.c.silent(ctx, m) {
			p.fired <- time.Now()
			if p.rearm {
				p.c.setSilence(ctx, p.d)
			}
		}
	case setTo:
		p.c.heard()
		m.p.d = m.d
		p.c.setSilence(ctx, m.d)
	case string:
		p.c.heard()
		if m == "set" {
			p.c.setSilence(ctx, p.d)
		}
	case *actor.Stopping:
		p.c.stopSilence()
	}
}

// TestSilenceReportsOnlySilence: the timer reports once the actor has heard
// nothing for the whole setting, counted from the last message, once per setting;
// a check of an earlier setting reports nothing.
func TestSilenceReportsOnlySilence(t *testing.T) {
	sys := actor.NewActorSystem()
	p := &silenceProbe{d: 100 * time.Millisecond, fired: make(chan time.Time, 16)}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	defer sys.Root.Stop(pid)
	sys.Root.Send(pid, "set")
	// Messages every 20 ms for 400 ms: never 100 ms of silence.
	var last time.Time
	for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		last = time.Now()
		sys.Root.Send(pid, "heard")
		select {
		case at := <-p.fired:
			t.Fatalf("silence reported at %v while a message came every 20 ms", at.Sub(last))
		default:
		}
	}
	select {
	case at := <-p.fired:
		if waited := at.Sub(last); waited < 100*time.Millisecond {
			t.Fatalf("silence reported %v after the last message, want 100 ms or more", waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no silence reported 5 s after the last message")
	}
	select {
	case <-p.fired:
		t.Fatal("silence reported twice for one setting")
	case <-time.After(300 * time.Millisecond):
	}
	// A new setting replaces the one before: a short one, then a long one at once,
	// reports only after the long one.
	p.d = 50 * time.Millisecond
	sys.Root.Send(pid, "set")
	p2 := 400 * time.Millisecond
	sys.Root.Send(pid, setTo{p, p2})
	start := time.Now()
	select {
	case at := <-p.fired:
		if at.Sub(start) < 350*time.Millisecond {
			t.Fatalf("a replaced setting reported after %v", at.Sub(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the new setting never reported")
	}
}

// setTo changes the probe's setting from its own turn.
type setTo struct {
	p *silenceProbe
	d time.Duration
}

// TestSilenceTimerRaceFree: a setting of 1 ms re-armed at each report, with a
// message every 0.9 ms, for 2 s. With protoactor's ReceiveTimeout the same
// pattern makes the race detector report its timer function writing the actor's
// context from the timer's goroutine (receiveTimeoutHandler against
// SetReceiveTimeout); the silence timer's function only sends a message.
func TestSilenceTimerRaceFree(t *testing.T) {
	sys := actor.NewActorSystem()
	p := &silenceProbe{d: time.Millisecond, rearm: true, fired: make(chan time.Time, 1<<16)}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	sys.Root.Send(pid, "set")
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(900 * time.Microsecond) {
		sys.Root.Send(pid, "heard")
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	// Sleeps overshoot by more than 0.1 ms, so some gaps are silences.
	if len(p.fired) == 0 {
		t.Fatal("no silence reported in 2 s of messages 0.9 ms apart, with a 1 ms setting")
	}
	t.Logf("%d silences reported", len(p.fired))
}
