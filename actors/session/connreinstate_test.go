package session

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/login"
)

// reinstateManager starts a manager that gave the probes TSIHs 1, 2, ... in turn, as
// it does at accept.
func reinstateManager(t *testing.T, sys *actor.ActorSystem, probes ...probe) *actor.PID {
	m := newManager(conn.Config{QueueDepth: 32}, hclog.NewNullLogger())
	for _, p := range probes {
		m.clock++
		m.born[p.pid.Id] = m.clock
		tsih, _ := m.tsih.take()
		m.tsihOf[p.pid.Id] = tsih
	}
	mgr := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return m }))
	t.Cleanup(func() { sys.Root.Stop(mgr) })
	return mgr
}

// port is the initiator port (name and ISID) and target of the tests' session.
var port = Info{Initiator: "iqn.i", ISID: [6]byte{0x80, 0, 0, 0, 0, 1}, Target: "iqn.t"}

// logIn sends p's Up: a new session (tsih 0) or a reinstatement of connection cid of
// session tsih, with the login's CmdSN.
func logIn(sys *actor.ActorSystem, mgr *actor.PID, p probe, in Info, tsih, cid uint16, cmdSN uint32) {
	key := in.Initiator + "," + string(in.ISID[:]) + "," + in.Target
	sys.Root.Send(mgr, &Up{Key: key, PID: p.pid, Info: &in, TSIH: tsih, CID: cid, CmdSN: cmdSN})
}

// refusedWith checks that the manager refused p's login with status st.
func (p probe) refusedWith(t *testing.T, what string, st login.Status) {
	t.Helper()
	a, ok := p.next(t, what).(*conn.Admit)
	if !ok || a.Refused == "" || a.Status != st {
		t.Fatalf("%s: want a refusal with status %04x, got %#v", what, uint16(st), a)
	}
}

// TestConnectionReinstatementContinuesSession: a login with the TSIH and CID of a
// live session's connection (RFC 7143 6.3.4) has the old session hand over; once it
// has (its NexusLoss sent), the new connection is admitted with the session's TSIH,
// its ExpCmdSN (the Login Response carries the session's window) and its
// session-wide parameters, and may proceed. While the handover runs, the TSIH names
// no session that another login could reinstate.
func TestConnectionReinstatementContinuesSession(t *testing.T) {
	sys := actor.NewActorSystem()
	old, next, third := newProbe(sys), newProbe(sys), newProbe(sys)
	mgr := reinstateManager(t, sys, old, next, third)
	in := port
	in.Params = login.DefaultParams()
	in.Params.ImmediateData, in.Params.MaxBurstLength = false, 65536
	logIn(sys, mgr, old, in, 0, 3, 1)
	old.admitted(t, "the session's first connection")

	renewed := port
	renewed.Params = login.DefaultParams() // a non-leading login leaves the LO keys at their defaults
	renewed.Params.HeaderDigest = true
	logIn(sys, mgr, next, renewed, 1, 3, 20)
	if _, ok := old.next(t, "the replaced session").(*replace); !ok {
		t.Fatal("the old session was not told to hand over")
	}
	logIn(sys, mgr, third, port, 1, 3, 20)
	third.refusedWith(t, "a second reinstatement during the handover", login.SessionDoesNotExist)
	quiet(t, map[string]probe{"new connection": next})

	sys.Root.Send(mgr, &handedOver{pid: old.pid, exp: 17})
	a, ok := next.next(t, "the new connection").(*conn.Admit)
	if !ok || a.Refused != "" || a.Continue == nil {
		t.Fatalf("the new connection: want Admit with Continue, got %#v", a)
	}
	k := a.Continue
	if k.TSIH != 1 || k.ExpCmdSN != 20 || k.Params.ImmediateData || k.Params.MaxBurstLength != 65536 {
		t.Fatalf("Continue %+v: want the session's TSIH 1, ExpCmdSN 20 (the login's, past 3 commands lost with the old connection) and its parameters", k)
	}
	if _, ok := next.next(t, "the new connection").(*proceed); !ok {
		t.Fatal("the new connection: want proceed after Admit")
	}
	quiet(t, map[string]probe{"old": old, "new": next})
}

// TestConnectionReinstatementRefusals: a login naming a TSIH is refused "session does
// not exist" (0x020A) when no session holds it, when the session is another
// initiator port's, and when the session ends before handing over; one naming
// another CID than the session's connection would be a second connection, which
// MaxConnections=1 refuses with "too many connections" (0x0206, RFC 7143 11.13.5).
func TestConnectionReinstatementRefusals(t *testing.T) {
	sys := actor.NewActorSystem()
	old, unknown, otherPort, otherCID, late := newProbe(sys), newProbe(sys), newProbe(sys), newProbe(sys), newProbe(sys)
	mgr := reinstateManager(t, sys, old, unknown, otherPort, otherCID, late)
	logIn(sys, mgr, old, port, 0, 0, 1)
	old.admitted(t, "the session")

	logIn(sys, mgr, unknown, port, 99, 0, 1)
	unknown.refusedWith(t, "a TSIH no session holds", login.SessionDoesNotExist)
	other := port
	other.ISID[5] = 2
	logIn(sys, mgr, otherPort, other, 1, 0, 1)
	otherPort.refusedWith(t, "another ISID", login.SessionDoesNotExist)
	logIn(sys, mgr, otherCID, port, 1, 1, 1)
	otherCID.refusedWith(t, "another CID", login.TooManyConnections)

	logIn(sys, mgr, late, port, 1, 0, 1)
	if _, ok := old.next(t, "the replaced session").(*replace); !ok {
		t.Fatal("the old session was not told to hand over")
	}
	sys.Root.Send(mgr, &actor.Terminated{Who: old.pid}) // it ended without handing over
	late.refusedWith(t, "a session that ended first", login.SessionDoesNotExist)
	quiet(t, map[string]probe{"old": old})
}

// TestContinuedExpCmdSN: the reinstated connection's ExpCmdSN is the session's, or
// the login's CmdSN when that is ahead within the window (the commands between were
// lost with the old connection), across the 2^32 wrap.
func TestContinuedExpCmdSN(t *testing.T) {
	for _, c := range []struct{ exp, login, depth, want uint32 }{
		{10, 10, 32, 10},
		{10, 12, 32, 12},
		{10, 42, 32, 42},
		{10, 43, 32, 10}, // beyond MaxCmdSN+1: not a CmdSN the initiator could have reached
		{10, 9, 32, 10},  // behind: the session's
		{0xfffffffe, 3, 32, 3},
	} {
		if got := continuedExpCmdSN(c.exp, c.login, c.depth); got != c.want {
			t.Errorf("continuedExpCmdSN(%d, %d, %d) = %d, want %d", c.exp, c.login, c.depth, got, c.want)
		}
	}
}
