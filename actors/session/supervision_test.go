package session

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
)

// recorder is a supervisor that counts what a strategy asks of it.
type recorder struct{ restarts, stops, resumes int }

func (r *recorder) Children() []*actor.PID                  { return nil }
func (r *recorder) EscalateFailure(reason any, message any) { panic("escalated") }
func (r *recorder) RestartChildren(pids ...*actor.PID)      { r.restarts++ }
func (r *recorder) StopChildren(pids ...*actor.PID)         { r.stops++ }
func (r *recorder) ResumeChildren(pids ...*actor.PID)       { r.resumes++ }

// TestStrategies: a session stops its failed connection (which has ended itself); the
// manager resumes a failed session, which ends through its connection, rather than
// stopping it before the connection tells the LUNs the nexus is lost.
func TestStrategies(t *testing.T) {
	log := hclog.NewNullLogger()
	child := actor.NewPID("local", "target/sessions/$1/conn")
	r := &recorder{}
	(&connStrategy{log: log}).HandleFailure(nil, r, child, actor.NewRestartStatistics(), "boom", nil)
	if *r != (recorder{stops: 1}) {
		t.Errorf("connection failure: %+v, want one stop", *r)
	}
	r = &recorder{}
	(&sessionStrategy{log: log}).HandleFailure(nil, r, child, actor.NewRestartStatistics(), "boom", nil)
	if *r != (recorder{resumes: 1}) {
		t.Errorf("session failure: %+v, want one resume", *r)
	}
}

// TestManagerResync: after a failure, the manager drops what it holds about sessions
// that are no longer its children and keeps the rest.
func TestManagerResync(t *testing.T) {
	m := &manager{byKey: map[string]*actor.PID{}, keyOf: map[string]string{}}
	live, gone, lost := actor.NewPID("l", "s/$1"), actor.NewPID("l", "s/$2"), actor.NewPID("l", "s/$3")
	m.byKey["a"], m.keyOf[live.Id] = live, "a"
	m.byKey["b"], m.keyOf[gone.Id] = gone, "b"
	m.byKey["c"] = lost // its keyOf entry was lost with the failure
	m.resync([]*actor.PID{live})
	if len(m.byKey) != 1 || m.byKey["a"] != live || len(m.keyOf) != 1 || m.keyOf[live.Id] != "a" {
		t.Fatalf("after resync: byKey %v, keyOf %v; want only the live session", m.byKey, m.keyOf)
	}
}

// TestManagerFailed: a connection the manager failed to take is closed; other
// messages are reported, not answered.
func TestManagerFailed(t *testing.T) {
	log := hclog.NewNullLogger()
	a, b := net.Pipe()
	defer b.Close()
	if got := ManagerFailed(log, &Accepted{Conn: a}); !strings.Contains(got, "closed") {
		t.Errorf("accepted: %q", got)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("peer of the accepted connection: %v, want it closed", err)
	}
	if got := ManagerFailed(log, &Up{Key: "k", PID: actor.NewPID("l", "s/$1")}); !strings.Contains(got, "not let to start") {
		t.Errorf("up: %q", got)
	}
	if got := ManagerFailed(log, nil); got != "no message in hand" {
		t.Errorf("nil: %q", got)
	}
}
