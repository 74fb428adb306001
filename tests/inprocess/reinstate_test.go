package inprocess

import (
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// landings holds the backend writes of old data (bytes 0x11) at one offset until
// released, and records the first byte of each write there in the order they reached
// the store.
type landings struct {
	backend.Backend
	off     int64
	held    chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	got     []byte
}

func newLandings(t *testing.T, off int64) *landings {
	l := &landings{off: off, held: make(chan struct{}, 8), release: make(chan struct{})}
	t.Cleanup(l.open) // before the target stops: its workers must come back
	return l
}

func (l *landings) open() { l.once.Do(func() { close(l.release) }) }

func (l *landings) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-l.held:
	case <-time.After(gateWait):
		t.Fatalf("the old WRITE never reached the backend")
	}
}

func (l *landings) WriteAt(p []byte, off int64, stable bool) error {
	if off == l.off && len(p) > 0 && p[0] == 0x11 {
		select {
		case <-l.release:
		default:
			l.held <- struct{}{}
			<-l.release
		}
	}
	err := l.Backend.WriteAt(p, off, stable)
	if err == nil && off == l.off && len(p) > 0 {
		l.mu.Lock()
		l.got = append(l.got, p[0])
		l.mu.Unlock()
	}
	return err
}

func (l *landings) list() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.got...)
}

// filled is n bytes of b.
func filled(b byte, n int) []byte {
	d := make([]byte, n)
	for i := range d {
		d[i] = b
	}
	return d
}

// reinstateWithHeldWrite logs in, holds a WRITE of v1 (bytes 0x11) at off in the
// backend, and reinstates the session with the same ISID. It returns the new
// session, the old one's held task and the landings at off.
func reinstateWithHeldWrite(t *testing.T, n int, off int64) (*initiator.Session, *initiator.Task, *landings) {
	t.Helper()
	rec := newLandings(t, off)
	svc := start(t, baseConfig(t), func(_ string, lun uint64, b backend.Backend) backend.Backend {
		if lun != 0 {
			return b
		}
		rec.Backend = b
		return rec
	})
	o := initiator.Options{ISID: isid(n), Timeout: 30 * time.Second}
	old := dial(t, svc.Addrs()[0], o)
	ready(t, old, 0)
	v1 := old.Submit(0, write16(uint64(off/blockSize), 8), filled(0x11, 8*blockSize), 0)
	rec.waitHeld(t)

	s := dial(t, svc.Addrs()[0], o)
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("old session's connection still open 5 s after reinstatement")
	}
	return s, v1, rec
}

// TestReinstatementEndsOldNexus: a session reinstated while one of its WRITEs is held
// in the backend ends as a dropped connection does (RFC 7143 6.3.5): the LUNs hear the
// nexus is lost before the new session's first command, which therefore reports POWER
// ON, RESET (29h) once, and the next one is GOOD. Before, the old session was only
// stopped: no NexusLoss, and the new session inherited the old nexus's state (its
// first TEST UNIT READY was GOOD).
func TestReinstatementEndsOldNexus(t *testing.T) {
	const off = 4 << 20
	s, _, rec := reinstateWithHeldWrite(t, 1300, off)
	expectSense(t, "first command of the new session", s.TestUnitReady(0), scsi.SenseUnitAttention, 0x29)
	if err := s.TestUnitReady(0); err != nil {
		t.Fatalf("second command of the new session: %v; want GOOD (the unit attention once)", err)
	}
	rec.open()
	w := randomData(1300, 16384)
	if err := s.Write(0, 0, w, blockSize, false); err != nil {
		t.Fatalf("write on the new session: %v", err)
	}
	mustReadBack(t, s, 0, 0, w)
}

// TestReinstatementOldWriteNeverLandsLater: the old session's WRITE of v1, held in a
// backend call when the session is reinstated, never lands after the new session's
// WRITE of v2 to the same blocks was acknowledged; v2 is what reads back. This needs
// the LUN to end a lost nexus's tasks (a write in a call abandoned and fenced).
func TestReinstatementOldWriteNeverLandsLater(t *testing.T) {
	const off = 4 << 20
	s, v1, rec := reinstateWithHeldWrite(t, 1301, off)
	ready(t, s, 0)
	v2 := s.Submit(0, write16(off/blockSize, 8), filled(0x22, 8*blockSize), 0)
	select {
	case <-v2.Done():
	case <-time.After(300 * time.Millisecond): // it may wait for the held call
	}
	rec.open()
	if r, err := v2.Wait(); err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("WRITE v2 on the new session: %v (%+v)", err, r)
	}
	acked := rec.list()
	// The old call returns once released; give it time to land (a bounded look: what
	// is checked is that nothing lands).
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(rec.list()) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	if got := rec.list(); len(got) > len(acked) {
		t.Fatalf("writes at the offset in landing order %x; %x when v2 was acknowledged: the old v1 landed after", got, acked)
	}
	mustReadBack(t, s, 0, off/blockSize, filled(0x22, 8*blockSize))
	select {
	case <-v1.Done():
		if r, err := v1.Wait(); err == nil {
			t.Fatalf("old session's WRITE answered after its session ended: %+v", r)
		}
	default:
	}
}

// TestTargetColdResetClosesAll: a TARGET COLD RESET answered FUNCTION COMPLETE closes
// every connection to the target, the asking one's after the response (RFC 7143
// 11.5.1); a session of another target goes on.
func TestTargetColdResetClosesAll(t *testing.T) {
	cfg := baseConfig(t)
	const other = targetName + "-other"
	cfg.Targets = append(cfg.Targets, &pb.Target{Name: other, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: lunSize}}})
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]
	asker := dial(t, addr, initiator.Options{ISID: isid(1310)})
	ready(t, asker, 0)
	peers := []*initiator.Session{
		dial(t, addr, initiator.Options{ISID: isid(1311)}),
		dial(t, addr, initiator.Options{ISID: isid(1312), InitiatorName: initiatorName + "-2"}),
	}
	elsewhere := dial(t, addr, initiator.Options{ISID: isid(1313), TargetName: other})
	ready(t, elsewhere, 0)

	resp, err := asker.TaskMgmt(iscsi.TMFTargetColdReset, 0, 0)
	if err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("TARGET COLD RESET: response %d, %v; want 0", resp, err)
	}
	for i, s := range append([]*initiator.Session{asker}, peers...) {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("session %d of the target still connected 5 s after TARGET COLD RESET", i)
		}
	}
	if err := elsewhere.Nop(nil); err != nil {
		t.Fatalf("session of another target: %v", err)
	}
	// The target takes new logins.
	s := dial(t, addr, initiator.Options{ISID: isid(1310)})
	ready(t, s, 0)
}
