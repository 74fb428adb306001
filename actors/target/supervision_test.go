package target

import (
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/logging"
	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/actors/supervise"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestRootDirectives: the root restarts a failed LUN, dispatcher or portal and resumes
// a failed session manager (a restart would stop its sessions); it never stops or
// escalates.
func TestRootDirectives(t *testing.T) {
	for _, tc := range []struct {
		child                   string
		restarts, resumes, stop int32
	}{
		{"target/lun-iqn.2026-11.dev.atgt:root-0", 1, 0, 0},
		{"target/lun-missing-iqn.2026-11.dev.atgt:root-1", 1, 0, 0}, // a LUN whose store is missing
		{"target/dispatcher", 1, 0, 0},
		{"target/portal0", 1, 0, 0},
		{"target/sessions", 0, 1, 0},
	} {
		s := newRootStrategy(hclog.NewNullLogger())
		sup := &recordingSupervisor{}
		s.HandleFailure(nil, sup, actor.NewPID("local", tc.child), actor.NewRestartStatistics(), "boom", nil)
		if sup.restarts.Load() != tc.restarts || sup.resumes.Load() != tc.resumes || sup.stops.Load() != tc.stop {
			t.Errorf("%s: %d restarts, %d resumes, %d stops; want %d, %d, %d", tc.child,
				sup.restarts.Load(), sup.resumes.Load(), sup.stops.Load(), tc.restarts, tc.resumes, tc.stop)
		}
	}
}

// TestRootManagerFailureClosesAccepted: a connection the session manager failed to
// take is closed, so that its initiator does not wait on a socket nobody reads.
func TestRootManagerFailureClosesAccepted(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	s := newRootStrategy(hclog.NewNullLogger())
	s.HandleFailure(nil, &recordingSupervisor{}, actor.NewPID("local", "target/sessions"), actor.NewRestartStatistics(),
		"boom", &session.Accepted{Conn: a})
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("read from the accepted connection's peer: %v, want it closed", err)
	}
}

// inbox is an actor that forwards the answers it gets to a channel.
func inbox(ch chan any) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *pb.ScsiCompletion, *pb.TaskManagementDone, *pb.ScsiTask:
			ch <- ctx.Message()
		}
	})
}

func next(t *testing.T, ch chan any) any {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5s")
		return nil
	}
}

// TestDispatcherFailureAnswered: a dispatcher that panics on a task or a task
// management function (here, sending to a route whose PID is nil) still answers it,
// through the root's strategy, and serves again after its restart.
func TestDispatcherFailureAnswered(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(hclog.NewNullLogger())
	}))
	defer sys.Shutdown()
	answers := make(chan any, 8)
	reply := pb.NewPid(sys.Root.Spawn(inbox(answers)))
	routes := dispatcher.NewTable(dispatcher.Routes{{Target: "iqn.t", LUN: 0}: nil})
	strategy := newRootStrategy(hclog.NewNullLogger())
	strategy.routes = routes
	dch := make(chan *actor.PID, 1)
	_, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			pid, err := ctx.SpawnNamed(dispatcher.Props(routes, hclog.NewNullLogger()), dispatcherName)
			if err != nil {
				panic(err)
			}
			dch <- pid
		}
	}, actor.WithSupervisor(strategy)), rootName)
	if err != nil {
		t.Fatal(err)
	}
	d := <-dch

	sys.Root.Send(d, &pb.ScsiTask{Itt: 7, Target: "iqn.t", Lun: 0, Cdb: []byte{scsi.OpTestUnitReady}, ReplyTo: reply})
	c, ok := next(t, answers).(*pb.ScsiCompletion)
	if !ok || c.Itt != 7 || c.Status != uint32(scsi.StatusCheckCondition) || len(c.Sense) < 13 ||
		c.Sense[2]&0x0f != scsi.SenseHardwareError || c.Sense[12] != 0x44 {
		t.Fatalf("task the dispatcher failed on: %v, want CHECK CONDITION HARDWARE ERROR 44h", c)
	}
	sys.Root.Send(d, &pb.TaskManagement{Itt: 8, Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET,
		Target: "iqn.t", Lun: 0, ReplyTo: reply})
	if done, ok := next(t, answers).(*pb.TaskManagementDone); !ok || done.Itt != 8 ||
		done.Response != iscsi.TMFRespRejected || done.FanOut != 1 {
		t.Fatalf("task management the dispatcher failed on: %v, want FUNCTION REJECTED, fan-out 1", done)
	}
	// Restarted, it answers a task for a LUN that does not exist as before.
	sys.Root.Send(d, &pb.ScsiTask{Itt: 9, Target: "iqn.t", Lun: 5, Cdb: []byte{scsi.OpTestUnitReady}, ReplyTo: reply})
	if c, ok := next(t, answers).(*pb.ScsiCompletion); !ok || c.Itt != 9 || len(c.Sense) < 13 || c.Sense[12] != 0x25 {
		t.Fatalf("task after the restart: %v, want LOGICAL UNIT NOT SUPPORTED", c)
	}
}

// crash makes the actor with the given id fail.
func crash(s *Service, id string) {
	s.system.Root.Send(actor.NewPID(s.system.ProcessRegistry.Address, id), &supervise.Crash{Reason: "test"})
}

// actorIDs lists the ids of the live actors whose id has the prefix and as many
// path elements more than it as depth.
func actorIDs(s *Service, prefix string, depth int) map[string]bool {
	ids := map[string]bool{}
	for _, bucket := range s.system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, id := range bucket.Keys() {
			if rest, ok := strings.CutPrefix(id, prefix+"/"); ok && strings.Count(rest, "/") == depth-1 {
				ids[id] = true
			}
		}
	}
	return ids
}

// newActor returns the one id of after that is not in before.
func newActor(t *testing.T, before, after map[string]bool) string {
	t.Helper()
	var found []string
	for id := range after {
		if !before[id] {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("new actors %v, want one", found)
	}
	return found[0]
}

const rootTarget = "iqn.2026-11.dev.atgt:root"

// logIn opens a session to the test target, with ISID n, and clears its power-on
// unit attention.
func logIn(t *testing.T, addr string, n byte) *initiator.Session {
	t.Helper()
	s, err := initiator.Dial(addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:sup", TargetName: rootTarget,
		ISID: [6]byte{0x80, 0, 0, 0, 0, n}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("login %d: %v", n, err)
	}
	t.Cleanup(func() { s.Close() })
	for range 3 {
		if s.TestUnitReady(0) == nil {
			return s
		}
	}
	t.Fatalf("session %d: LUN 0 not ready", n)
	return nil
}

// works checks that a session still reads and writes.
func works(t *testing.T, s *initiator.Session, what string) {
	t.Helper()
	data := make([]byte, 4096)
	data[0], data[4095] = 0xa5, 0x5a
	if err := s.Write(0, 8, data, 512, false); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	got, err := s.Read(0, 8, 8, 512)
	if err != nil || got[0] != 0xa5 || got[4095] != 0x5a {
		t.Fatalf("%s: read back: %v", what, err)
	}
}

// TestSessionManagerFailureKeepsSessions: a logged-in session keeps working after the
// session manager panics, new logins work, and the manager still knows the session
// (a login with its ISID reinstates it).
func TestSessionManagerFailureKeepsSessions(t *testing.T) {
	svc, err := Start(memoryConfig(t), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	addr := svc.Addrs()[0]
	s1 := logIn(t, addr, 1)
	for i := range 3 {
		crash(svc, "target/sessions")
		works(t, s1, "the session logged in before the manager failed")
		works(t, logIn(t, addr, byte(10+i)), "a session logged in after the manager failed")
	}
	// Reinstatement: the manager kept s1's key, so a new login with its ISID ends it.
	logIn(t, addr, 1)
	deadline := time.Now().Add(5 * time.Second)
	for s1.TestUnitReady(0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the reinstated session still works: the manager forgot it")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPortalFailureKeepsListening: a portal listener that panics is restarted and new
// logins keep working; sessions are untouched.
func TestPortalFailureKeepsListening(t *testing.T) {
	svc, err := Start(memoryConfig(t), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	addr := svc.Addrs()[0]
	s1 := logIn(t, addr, 1)
	for i := range 3 {
		crash(svc, "target/portal0")
		works(t, logIn(t, addr, byte(10+i)), "a login after the portal failed")
		works(t, s1, "the session logged in before the portal failed")
	}
}

// failureReleasesNexus reserves LUN 0 (RESERVE(6)) from one session, makes the actor
// chosen by pick fail, and checks that the session ends and that its reservation is
// released (the LUN got NexusLoss), so another session can use the LUN.
func failureReleasesNexus(t *testing.T, pick func(session string) string) {
	svc, err := Start(memoryConfig(t), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	addr := svc.Addrs()[0]
	before := actorIDs(svc, "target/sessions", 1)
	s1 := logIn(t, addr, 1)
	sessionID := newActor(t, before, actorIDs(svc, "target/sessions", 1))
	s2 := logIn(t, addr, 2)
	if r, err := s1.Command(0, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil, 0); err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("RESERVE(6): %v, %v", r, err)
	}
	if r, err := s2.Command(0, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil, 0); err != nil || r.Status != scsi.StatusReservationConflict {
		t.Fatalf("TEST UNIT READY from another session: %v, %v; want RESERVATION CONFLICT", r, err)
	}
	crash(svc, pick(sessionID))
	if err := s1.TestUnitReady(0); err == nil {
		t.Fatal("the session whose actor failed still answers")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := s2.Command(0, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil, 0)
		if err != nil {
			t.Fatalf("the other session: %v", err)
		}
		if r.Status == scsi.StatusGood {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other session still gets status %#x: the failed session's reservation was kept", r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	works(t, logIn(t, addr, 3), "a login after the failure")
}

// TestSessionFailureReleasesNexus: a session that panics ends through its connection,
// which tells the LUNs that the nexus is lost.
func TestSessionFailureReleasesNexus(t *testing.T) {
	failureReleasesNexus(t, func(id string) string { return id })
}

// TestConnectionFailureReleasesNexus: a connection actor that panics ends as a closed
// socket ends it: its LUNs are told that the nexus is lost, and its session ends.
func TestConnectionFailureReleasesNexus(t *testing.T) {
	failureReleasesNexus(t, func(id string) string { return id + "/conn" })
}

// recordingSupervisor counts what a strategy asks of it.
type recordingSupervisor struct{ restarts, stops, resumes atomic.Int32 }

func (r *recordingSupervisor) Children() []*actor.PID                  { return nil }
func (r *recordingSupervisor) EscalateFailure(reason any, message any) { panic("escalated") }
func (r *recordingSupervisor) RestartChildren(pids ...*actor.PID)      { r.restarts.Add(1) }
func (r *recordingSupervisor) StopChildren(pids ...*actor.PID)         { r.stops.Add(1) }
func (r *recordingSupervisor) ResumeChildren(pids ...*actor.PID)       { r.resumes.Add(1) }
