package lun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// fenceable is a memory backend the test fences off: a write it holds hangs until
// the test releases it, as librbd holds a write on a blocklisted client.
type fenceable struct {
	backend.Backend
	fenced   atomic.Bool
	hold     chan error // a write at holdOff waits for a value here
	holdOff  int64
	inFlight atomic.Int32
	mu       sync.Mutex
	onFenced func(error)
	// reconnects records, for each Reconnect attempt, whether a write was still in
	// the backend then.
	reconnects []bool
	attempts   int
}

func (f *fenceable) WriteAt(p []byte, off int64, stable bool) error {
	f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	if off == f.holdOff {
		if err := <-f.hold; err != nil {
			return err
		}
	}
	if f.fenced.Load() {
		return backend.ErrFenced
	}
	return f.Backend.WriteAt(p, off, stable)
}

func (f *fenceable) ReadAt(p []byte, off int64) (int, error) {
	if f.fenced.Load() {
		return 0, backend.ErrFenced
	}
	return f.Backend.ReadAt(p, off)
}

func (f *fenceable) OnFenced(fn func(error)) {
	f.mu.Lock()
	f.onFenced = fn
	f.mu.Unlock()
}

func (f *fenceable) fence() {
	f.fenced.Store(true)
	f.mu.Lock()
	fn := f.onFenced
	f.mu.Unlock()
	fn(errors.New("test: client blocklisted"))
}

// Reconnect fails its first attempt (the cluster unreachable), then succeeds.
func (f *fenceable) Reconnect(stop <-chan struct{}, failed func(error, time.Duration)) error {
	for {
		f.mu.Lock()
		f.reconnects = append(f.reconnects, f.inFlight.Load() > 0)
		f.attempts++
		n := f.attempts
		f.mu.Unlock()
		if n > 1 {
			f.fenced.Store(false)
			return nil
		}
		failed(errors.New("test: cluster unreachable"), time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

func (f *fenceable) attemptsSoFar() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// TestReopenAfterFence: a LUN whose backend is fenced off answers NOT READY, ends
// the target's sessions, and reopens the backend only once they have ended and the
// write it held has come back (failed: never retried); then it serves again, and the
// failed write is not on the store.
func TestReopenAfterFence(t *testing.T) {
	f := &fenceable{Backend: backend.NewMemory(1 << 20), hold: make(chan error, 1), holdOff: 64 * 512}
	endAsked := make(chan func(), 1)
	h := newLUNHarness(t, f, func(c *Config) {
		c.Reopen = &Reopen{Backend: f, EndSessions: func(done func()) { endAsked <- done }}
	})
	defer h.sys.Shutdown()
	// A write the fenced client holds.
	h.send(h.task(1, write10(64, 1, true), bytes.Repeat([]byte{0xee}, 512)))
	for f.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.fence()
	var done func()
	select {
	case done = <-endAsked:
	case <-time.After(5 * time.Second):
		t.Fatal("sessions not ended after the fence")
	}
	h.send(h.read(2, 0))
	expectCheck(t, "read while fenced", h.wait(1)[2], scsi.SenseNotReady, 0x04, 0x01)
	done()
	time.Sleep(50 * time.Millisecond)
	if n := f.attemptsSoFar(); n != 0 {
		t.Fatalf("reconnected %d times while the fenced client still held a write", n)
	}
	f.hold <- syscall.ESHUTDOWN // the write fails, as on a blocklisted client
	expectCheck(t, "the held write", h.wait(1)[1], scsi.SenseMediumError, 0x0C, 0x00)
	deadline := time.Now().Add(5 * time.Second)
	itt := uint32(10)
	for {
		itt++
		h.send(h.read(itt, 0))
		m := h.wait(1)[itt]
		if m.Status == uint32(scsi.StatusGood) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving 5 s after the sessions ended: status %d sense % x", m.Status, m.Sense)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.mu.Lock()
	reconnects := append([]bool(nil), f.reconnects...)
	f.mu.Unlock()
	if len(reconnects) != 2 || reconnects[0] || reconnects[1] {
		t.Fatalf("reconnect attempts (write in flight at each): %v, want two with none", reconnects)
	}
	h.send(h.task(100, write10(8, 1, true), bytes.Repeat([]byte{0x11}, 512)))
	if m := h.wait(1)[100]; m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("write after reopening: status %d", m.Status)
	}
	got := make([]byte, 512)
	f.Backend.ReadAt(got, 64*512)
	if !bytes.Equal(got, make([]byte, 512)) {
		t.Fatal("the write the fenced client held landed")
	}
	f.Backend.ReadAt(got, 8*512)
	if !bytes.Equal(got, bytes.Repeat([]byte{0x11}, 512)) {
		t.Fatal("the write after reopening did not land")
	}
}

// TestALUAAfterReopen: a node of three groups holds the lock and is fenced off while
// another node takes it. Once it has reopened its backend it reports that node's
// group as the only active/optimized one at once, not after the hold: while fenced
// it could not look, and its guess showed the two other groups optimized.
func TestALUAAfterReopen(t *testing.T) {
	f := &fenceable{Backend: backend.NewMemory(1 << 20), hold: make(chan error, 1), holdOff: -1}
	loc := &switchOwner{}
	loc.group.Store(1)
	const hold = 2 * time.Second
	h := newLUNHarness(t, f, func(c *Config) {
		c.Device = scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
			PortGroups: []uint16{1, 2, 3}, TargetPortGroup: 1, RelativePortID: 1})
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2, 3}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: hold}
		c.Reopen = &Reopen{Backend: f, EndSessions: func(done func()) { done() }}
	})
	defer h.sys.Shutdown()
	itt := uint32(0)
	// states answers RTPG past unit attentions: O, N or U per group (RTPG runs
	// while fenced: the node's own group is then unavailable), or "not ready".
	states := func() string {
		for range 10 {
			itt++
			c := make([]byte, 12)
			c[0], c[1] = scsi.OpMaintenanceIn, scsi.SAReportTargetPortGroups
			binary.BigEndian.PutUint32(c[6:10], 64)
			h.send(h.task(itt, c, nil))
			m := h.wait(1)[itt]
			if m.Status == uint32(scsi.StatusCheckCondition) {
				switch key, asc := m.Sense[2]&0x0F, [2]byte(m.Sense[12:14]); {
				case key == scsi.SenseUnitAttention:
					continue
				case key == scsi.SenseNotReady && asc == [2]byte{0x04, 0x01}:
					return "not ready"
				}
			}
			if m.Status != uint32(scsi.StatusGood) {
				t.Fatalf("RTPG status %d sense % x", m.Status, m.Sense)
			}
			out := ""
			for p := m.DataIn[4:]; len(p) >= 12; p = p[12:] {
				out += map[byte]string{0: "O", 1: "N", 3: "U"}[p[0]&0x0F]
			}
			return out
		}
		t.Fatal("RTPG: unit attentions without end")
		return ""
	}
	// await polls until the states are want; every answer on the way must be one
	// of allowed (or want).
	await := func(want string, within time.Duration, allowed ...string) time.Duration {
		start := time.Now()
		for got := states(); got != want; got = states() {
			if time.Since(start) > within {
				t.Fatalf("states %s %v after the last step, want %s", got, within, want)
			}
			if !slices.Contains(allowed, got) {
				t.Fatalf("states %s on the way to %s", got, want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(start)
	}
	await("ONN", hold+3*time.Second, "NOO")
	loc.group.Store(2)
	f.fence()
	// The stale states until the fence is handled, this node unavailable (the
	// others as they were: no guess) while fenced, then group 2 at once, well
	// within the hold.
	d := await("NON", hold/2, "ONN", "UNN")
	t.Logf("group 2 the only optimized one %v after the fence (hold %v)", d, hold)
	if n := f.attemptsSoFar(); n != 2 {
		t.Fatalf("%d reconnect attempts, want 2 (one failed, one that reopened)", n)
	}
}

// TestFencedReadBeforeFence: a read the backend answers as fenced before the LUN
// has heard of the fence (RBD: the OSDs refused it as blocklisted before librbd knew)
// is answered NOT READY (04/01), which initiators retry, not a medium error.
func TestFencedReadBeforeFence(t *testing.T) {
	f := &fenceable{Backend: backend.NewMemory(1 << 20), hold: make(chan error, 1), holdOff: -1}
	h := newLUNHarness(t, f, func(c *Config) {
		c.Reopen = &Reopen{Backend: f, EndSessions: func(done func()) { done() }}
	})
	defer h.sys.Shutdown()
	f.fenced.Store(true) // the calls fail as fenced; OnFenced not told yet
	h.send(h.read(1, 0))
	expectCheck(t, "read refused as fenced", h.wait(1)[1], scsi.SenseNotReady, 0x04, 0x01)
}

// TestReopenGatewayUnavailable: a gateway (a LUN of two port groups) whose backend
// is fenced off reports its group unavailable and answers what needs the backend
// NOT READY, TARGET PORT IN UNAVAILABLE STATE (04/0C), which initiators fail over
// at once, not 04/01, which Linux retries on this path for minutes; INQUIRY and
// REPORT TARGET PORT GROUPS run. Reopened, it serves again.
func TestReopenGatewayUnavailable(t *testing.T) {
	f := &fenceable{Backend: backend.NewMemory(1 << 20), hold: make(chan error, 1), holdOff: -1}
	loc := &switchOwner{}
	loc.group.Store(2)
	endAsked := make(chan func(), 1)
	h := newLUNHarness(t, f, func(c *Config) {
		c.Device = scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
			PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1})
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: 10 * time.Millisecond}
		c.Reopen = &Reopen{Backend: f, EndSessions: func(done func()) { endAsked <- done }}
	})
	defer h.sys.Shutdown()
	time.Sleep(50 * time.Millisecond)
	if s, _ := rtpgStates(t, h, 1); s != "NO" {
		t.Fatalf("before the fence: states %s, want NO", s)
	}
	f.fence()
	var done func()
	select {
	case done = <-endAsked:
	case <-time.After(5 * time.Second):
		t.Fatal("sessions not ended after the fence")
	}
	itt := uint32(10)
	cmd := func(tk *pb.ScsiTask) *pb.ScsiCompletion {
		for range 3 {
			itt++
			tk.Itt = itt
			h.send(tk)
			m := h.wait(1)[itt]
			if m.Status != uint32(scsi.StatusCheckCondition) || m.Sense[2]&0x0F != scsi.SenseUnitAttention {
				return m
			}
		}
		t.Fatal("unit attentions without end")
		return nil
	}
	expectCheck(t, "read while fenced", cmd(h.read(0, 0)), scsi.SenseNotReady, 0x04, 0x0C)
	expectCheck(t, "TEST UNIT READY while fenced", cmd(h.task(0, make([]byte, 6), nil)), scsi.SenseNotReady, 0x04, 0x0C)
	expectGood(t, "INQUIRY while fenced", cmd(h.task(0, []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil)))
	if s, _ := rtpgStates(t, h, 100); s != "UO" {
		t.Fatalf("while fenced: states %s, want UO (this node unavailable, the owner as it was)", s)
	}
	done()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := cmd(h.read(0, 0))
		if m.Status == uint32(scsi.StatusGood) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving 5 s after the sessions ended: status %d sense % x", m.Status, m.Sense)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s, _ := rtpgStates(t, h, 200); s != "NO" {
		t.Fatalf("reopened: states %s, want NO", s)
	}
}
