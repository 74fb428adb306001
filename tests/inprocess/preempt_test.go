package inprocess

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// prOut returns a PERSISTENT RESERVE OUT CDB and its 24-byte parameter list.
func prOut(sa, typ uint8, key, saKey uint64) (cdb, params []byte) {
	cdb = make([]byte, 10)
	cdb[0], cdb[1], cdb[2] = 0x5f, sa, typ
	binary.BigEndian.PutUint32(cdb[5:], 24)
	params = make([]byte, 24)
	binary.BigEndian.PutUint64(params[0:], key)
	binary.BigEndian.PutUint64(params[8:], saKey)
	return cdb, params
}

// status runs a command and returns its SCSI status (failing the test on a transport
// error).
func status(t *testing.T, what string, s *initiator.Session, cdb, data []byte) uint8 {
	t.Helper()
	r, err := s.Command(0, cdb, data, 0)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return r.Status
}

// TestPreemptAndAbortFences: PREEMPT AND ABORT is answered only once the preempted
// initiator's write that was already with an IO worker is done, so nothing of the
// fenced initiator reaches the medium after the preemptor hears GOOD; its next write
// meets RESERVATION CONFLICT.
func TestPreemptAndAbortFences(t *testing.T) {
	const writeExclusiveRegistrantsOnly = 5
	gate := newGate()
	svc := start(t, baseConfig(t), gate.wrap(0))
	a := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(960)})
	b := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(961)})
	untilGood(t, a)
	untilGood(t, b)
	const keyA, keyB = 0xaaaa, 0xbbbb
	for _, r := range []struct {
		s   *initiator.Session
		key uint64
	}{{a, keyA}, {b, keyB}} {
		cdb, params := prOut(0x00, 0, 0, r.key) // REGISTER
		if st := status(t, "REGISTER", r.s, cdb, params); st != 0 {
			t.Fatalf("REGISTER %#x: status %#x", r.key, st)
		}
	}
	cdb, params := prOut(0x01, writeExclusiveRegistrantsOnly, keyA, 0) // RESERVE
	if st := status(t, "RESERVE", a, cdb, params); st != 0 {
		t.Fatalf("RESERVE: status %#x", st)
	}
	if st := status(t, "write", b, write16(0, 1), randomData(1, blockSize)); st != 0 {
		t.Fatalf("registrant's write before the preemption: status %#x", st)
	}

	gate.shut(t, "write")
	victim := b.Submit(0, write16(8, 1), randomData(2, blockSize), 0)
	gate.waitHeld(t, 1) // the write is with an IO worker
	// PREEMPT AND ABORT of the victim's registration.
	type answer struct {
		status uint8
		err    error
	}
	preempted := make(chan answer, 1)
	go func() {
		cdb, params := prOut(0x05, writeExclusiveRegistrantsOnly, keyA, keyB)
		r, err := a.Command(0, cdb, params, 0)
		if err != nil {
			preempted <- answer{0, err}
			return
		}
		preempted <- answer{r.Status, nil}
	}()
	// It must wait for the victim's write: nothing may come while the write is held
	// (a bounded look, since what is checked is that nothing happens).
	select {
	case p := <-preempted:
		t.Fatalf("PREEMPT AND ABORT answered (status %#x, %v) while the victim's write was still with an IO worker", p.status, p.err)
	case <-time.After(300 * time.Millisecond):
	}
	gate.passOne(t)
	if p := <-preempted; p.err != nil || p.status != 0 {
		t.Fatalf("PREEMPT AND ABORT: status %#x, %v", p.status, p.err)
	}
	if r, err := victim.Wait(); err != nil || r.Status != 0 {
		t.Fatalf("the victim's write already under way: %v, %+v", err, r)
	}
	gate.release()

	// The victim first learns it was preempted (UNIT ATTENTION, REGISTRATIONS
	// PREEMPTED), and then cannot write.
	r, err := b.Command(0, write16(16, 1), randomData(3, blockSize), 0)
	if err != nil || r.Status != 0x02 {
		t.Fatalf("preempted initiator's first command: %v, %+v; want its unit attention", err, r)
	}
	expectSense(t, "preempted initiator's unit attention", &initiator.SCSIError{Status: r.Status, Sense: r.Sense}, 0x06, 0x2a)
	if st := status(t, "write", b, write16(16, 1), randomData(3, blockSize)); st != 0x18 {
		t.Fatalf("preempted initiator's write after PREEMPT AND ABORT: status %#x, want RESERVATION CONFLICT", st)
	}
	if st := status(t, "write", a, write16(16, 1), randomData(4, blockSize)); st != 0 {
		t.Fatalf("reservation holder's write: status %#x", st)
	}
}
