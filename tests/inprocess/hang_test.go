package inprocess

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// offsetHold holds a LUN's backend calls of one operation at one offset (a disk
// that hangs on one range) until released, and reports each call it holds.
type offsetHold struct {
	op      string
	off     int64
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func newOffsetHold(t *testing.T, op string, off int64) *offsetHold {
	h := &offsetHold{op: op, off: off, held: make(chan struct{}, 64), release: make(chan struct{})}
	t.Cleanup(h.open) // before the target stops: its workers must come back
	return h
}

func (h *offsetHold) wrap(lun uint64) wrapFunc {
	return func(_ string, l uint64, b backend.Backend) backend.Backend {
		if l != lun {
			return b
		}
		return backend.WithFaults(b, func(op string, off int64) (bool, error) {
			if op == h.op && off == h.off {
				select {
				case <-h.release:
				default:
					h.held <- struct{}{}
					<-h.release
				}
			}
			return false, nil
		})
	}
}

func (h *offsetHold) open() { h.once.Do(func() { close(h.release) }) }

func (h *offsetHold) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-h.held:
	case <-time.After(gateWait):
		t.Fatalf("no %s at %d reached the backend", h.op, h.off)
	}
}

// ioBatch submits n READs and WRITEs away from the hung range and checks that every
// one is answered GOOD.
func ioBatch(t *testing.T, s *initiator.Session, n int, firstLBA uint64) {
	t.Helper()
	var tasks []*initiator.Task
	for i := range n {
		lba := firstLBA + uint64(i)*16
		if i%2 == 0 {
			tasks = append(tasks, s.Submit(0, read16(lba, 8), nil, 4096))
		} else {
			tasks = append(tasks, s.Submit(0, write16(lba, 8), randomData(uint64(i), 4096), 0))
		}
	}
	answered := 0
	for i, tk := range tasks {
		r, err := tk.Wait()
		if err != nil || r.Status != scsi.StatusGood {
			t.Errorf("IO %d beside the hung call: %v (%+v)", i, err, r)
			continue
		}
		answered++
	}
	if answered != n {
		t.Fatalf("%d of %d IOs beside the hung call answered GOOD", answered, n)
	}
}

// within runs a task management function and checks it is answered FUNCTION
// COMPLETE within 5 s.
func within(t *testing.T, s *initiator.Session, what string, fn uint8, ref uint32) {
	t.Helper()
	start := time.Now()
	resp, err := s.TaskMgmt(fn, 0, ref)
	if d := time.Since(start); err != nil || resp != iscsi.TMFRespComplete || d > 5*time.Second {
		t.Fatalf("%s: response %d, %v after %v; want 0 within 5 s", what, resp, err, d)
	}
}

// TestHungBackendCall: one backend READ hangs (the default 30 s ioTimeout is far
// off). 32 of 32 IOs elsewhere on the LUN are answered; ABORT TASK of the hung READ and
// LOGICAL UNIT RESET with another hung READ are answered within 5 s, the aborted tasks
// getting no response; new IOs are answered afterwards; and once the backend lets the
// calls go, their late results are dropped and the LUN serves that range again.
func TestHungBackendCall(t *testing.T) {
	const hungOff = 8 << 20
	hold := newOffsetHold(t, "read", hungOff)
	svc := start(t, baseConfig(t), hold.wrap(0))
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1200), Timeout: 30 * time.Second})
	ready(t, s, 0)
	data := randomData(7, 64<<10)
	if err := s.Write(0, 0, data, blockSize, false); err != nil {
		t.Fatal(err)
	}

	hung := s.Submit(0, read16(hungOff/blockSize, 8), nil, 4096)
	hold.waitHeld(t)
	ioBatch(t, s, 32, 4096)
	within(t, s, "ABORT TASK of the hung READ", iscsi.TMFAbortTask, hung.ITT())

	hung2 := s.Submit(0, read16(hungOff/blockSize, 8), nil, 4096)
	hold.waitHeld(t)
	within(t, s, "LOGICAL UNIT RESET with a hung READ", iscsi.TMFLUNReset, 0)
	for i, tk := range []*initiator.Task{hung, hung2} {
		select {
		case <-tk.Done():
			r, err := tk.Wait()
			t.Fatalf("aborted task %d got an answer: %+v, %v", i, r, err)
		default:
		}
	}

	ready(t, s, 0) // the reset's unit attention
	ioBatch(t, s, 32, 8192)

	hold.open()
	if _, err := s.Read(0, hungOff/blockSize, 8, blockSize); err != nil {
		t.Fatalf("READ of the range once the backend let go: %v", err)
	}
	mustReadBack(t, s, 0, 0, data)
	for i, tk := range []*initiator.Task{hung, hung2} {
		select {
		case <-tk.Done():
			if r, err := tk.Wait(); err == nil {
				t.Fatalf("aborted task %d answered by its late call: %+v", i, r)
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestIOTimeout: a LUN with one worker and a 200 ms ioTimeout answers a READ that hangs
// ABORTED COMMAND, LOGICAL UNIT COMMUNICATION TIME-OUT; with as many abandoned calls as
// workers it answers NOT READY (04/01) while INQUIRY still works; it is ready again
// once the call returns.
func TestIOTimeout(t *testing.T) {
	const hungOff = 1 << 20
	hold := newOffsetHold(t, "read", hungOff)
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].Workers = 1
	cfg.Targets[0].Luns[0].IoTimeout = proto.Float64(0.2)
	svc := start(t, cfg, hold.wrap(0))
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1201)})
	ready(t, s, 0)

	start := time.Now()
	_, err := s.Read(0, hungOff/blockSize, 8, blockSize)
	expectSense(t, "READ hung past ioTimeout", err, scsi.SenseAbortedCommand, 0x08)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timed out after %v with a 200 ms ioTimeout", d)
	}
	expectSense(t, "TEST UNIT READY with the only worker's call abandoned", s.TestUnitReady(0), scsi.SenseNotReady, 0x04)
	_, err = s.Read(0, 0, 8, blockSize)
	expectSense(t, "READ with the only worker's call abandoned", err, scsi.SenseNotReady, 0x04)
	if _, err := s.Inquiry(0); err != nil {
		t.Fatalf("INQUIRY while not ready: %v", err)
	}

	hold.open()
	deadline := time.Now().Add(5 * time.Second)
	for s.TestUnitReady(0) != nil {
		if time.Now().After(deadline) {
			t.Fatal("still not ready 5 s after the call returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Read(0, hungOff/blockSize, 8, blockSize); err != nil {
		t.Fatalf("READ once ready again: %v", err)
	}
}

// TestWorkerPanicRetried: an IO worker that panics on a READ is restarted and the READ
// retried on a fresh worker: the initiator sees GOOD and the right data.
func TestWorkerPanicRetried(t *testing.T) {
	const off = 2 << 20
	var panics atomic.Int32
	svc := start(t, baseConfig(t), func(_ string, _ uint64, b backend.Backend) backend.Backend {
		return backend.WithFaults(b, func(op string, o int64) (bool, error) {
			return op == "read" && o == off && panics.Add(1) == 1, nil
		})
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1202)})
	ready(t, s, 0)
	data := randomData(9, 4096)
	if err := s.Write(0, off/blockSize, data, blockSize, false); err != nil {
		t.Fatal(err)
	}
	mustReadBack(t, s, 0, off/blockSize, data)
	if n := panics.Load(); n != 2 {
		t.Fatalf("the READ reached the backend %d times; want 2 (a panic, then the retry)", n)
	}
	var se *initiator.SCSIError
	if err := s.TestUnitReady(0); errors.As(err, &se) {
		t.Fatalf("the LUN reports %v after a retried panic", se)
	}
}
