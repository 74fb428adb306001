package inprocess

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/atgt/atgt/tests/initiator"
)

// TestConcurrentSessions has four sessions (own ISIDs) write disjoint regions at the
// same time; each verifies its own region, and a fifth session verifies all of them.
func TestConcurrentSessions(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	addr := svc.Addrs()[0]
	const (
		sessions = 4
		region   = 4 << 20 // bytes per session
		chunk    = 128 << 10
	)
	data := make([][]byte, sessions)
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for n := range sessions {
		data[n] = randomData(uint64(1000+n), region)
		s := dial(t, addr, initiator.Options{ISID: isid(200 + n), MaxBurstLength: 65536, FirstBurstLength: 16384, MaxOutstandingR2T: 2})
		ready(t, s, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := uint64(n * region / blockSize)
			for off := 0; off < region; off += chunk {
				if err := s.Write(0, base+uint64(off/blockSize), data[n][off:off+chunk], blockSize, false); err != nil {
					errs <- fmt.Errorf("session %d write at %d: %w", n, off, err)
					return
				}
			}
			got, err := s.Read(0, base, region/blockSize, blockSize)
			if err != nil {
				errs <- fmt.Errorf("session %d read: %w", n, err)
				return
			}
			if string(got) != string(data[n]) {
				errs <- fmt.Errorf("session %d read back different data", n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v := dial(t, addr, initiator.Options{ISID: isid(299)})
	ready(t, v, 0)
	for n := range sessions {
		mustReadBack(t, v, 0, uint64(n*region/blockSize), data[n])
	}
}

// fullWindow starts a target with a window of depth commands, logs in and fills the
// window with READs that the backend holds until the returned gate is released. It
// checks the window the target states before (room for depth commands) and after
// (MaxCmdSN = ExpCmdSN-1: no room), and returns the held tasks and that ExpCmdSN and
// MaxCmdSN.
func fullWindow(t *testing.T, depth uint32) (s *initiator.Session, gate *ioGate, held []*initiator.Task, exp, max uint32) {
	t.Helper()
	cfg := baseConfig(t)
	cfg.QueueDepth = depth
	gate = newGate()
	svc := start(t, cfg, gate.wrap(0))
	s = dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(310)})
	ready(t, s, 0)
	exp0, max0 := s.Window()
	if room := max0 - exp0 + 1; room != depth {
		t.Fatalf("idle session: ExpCmdSN %d MaxCmdSN %d, room for %d commands; want %d", exp0, max0, room, depth)
	}
	gate.shut(t, "read")
	held = make([]*initiator.Task, depth)
	for i := range held {
		// LBAs far apart: each READ is its own backend call.
		held[i] = s.Submit(0, read16(uint64(i)*64, 8), nil, 8*blockSize)
	}
	gate.waitHeld(t, int(depth))
	// A NOP-In (immediate, so outside the window) states the window as it is now.
	if err := s.Nop(nil); err != nil {
		t.Fatalf("nop with the window full: %v", err)
	}
	exp, max = s.Window()
	if exp != exp0+depth || max != exp-1 {
		t.Fatalf("%d commands held: ExpCmdSN %d MaxCmdSN %d; want ExpCmdSN %d and MaxCmdSN %d (no room)",
			depth, exp, max, exp0+depth, exp0+depth-1)
	}
	return s, gate, held, exp, max
}

// TestQueueDepth: the target's CmdSN window is its queue depth less the commands it
// holds (RFC 7143 4.2.2.1). With every slot of a 4-deep window held in the backend,
// MaxCmdSN stays at ExpCmdSN-1 (no room) and the initiator waits there; once the held
// IO is done the window reopens to the full depth and the command that waited runs.
func TestQueueDepth(t *testing.T) {
	const depth = 4
	s, gate, held, exp, _ := fullWindow(t, depth)
	waiting := s.Submit(0, read16(1024, 8), nil, 8*blockSize)
	if err := s.Nop(nil); err != nil {
		t.Fatalf("nop: %v", err)
	}
	select {
	case <-waiting.Done():
		t.Fatalf("a command beyond MaxCmdSN finished while the window was closed")
	default:
	}
	gate.release()
	for i, tk := range append(held, waiting) {
		if r, err := tk.Wait(); err != nil || r.Status != 0 {
			t.Fatalf("read %d: %+v %v", i, r, err)
		}
	}
	if err := s.Nop(nil); err != nil {
		t.Fatalf("nop after the held IO: %v", err)
	}
	if e, m := s.Window(); e != exp+1 || m-e+1 != depth {
		t.Fatalf("idle again: ExpCmdSN %d MaxCmdSN %d; want ExpCmdSN %d and room for %d", e, m, exp+1, depth)
	}
}

// TestCommandBeyondMaxCmdSN: a command sent beyond the MaxCmdSN the target stated
// must be ignored (RFC 7143 4.2.2.1), also when the commands in flight, not the queue
// depth, closed the window.
func TestCommandBeyondMaxCmdSN(t *testing.T) {
	const depth = 4
	s, gate, held, exp, max := fullWindow(t, depth)
	const lba = 2048
	data := randomData(311, 4096)
	p := rawWrite16(0x7200_0001, max+1, lba, data)
	if err := s.SendPDU(p); err != nil {
		t.Fatal(err)
	}
	if err := s.Nop(nil); err != nil { // answered after the session saw the WRITE
		t.Fatalf("nop: %v", err)
	}
	if e, m := s.Window(); e != exp || m != max {
		t.Errorf("after a command beyond MaxCmdSN %d: ExpCmdSN %d MaxCmdSN %d; the target took it", max, e, m)
	}
	gate.release()
	for _, tk := range held {
		tk.Wait()
	}
	got, err := s.Read(0, lba, uint32(len(data)/blockSize), blockSize)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if bytes.Equal(got, data) {
		t.Fatalf("the WRITE sent beyond MaxCmdSN was executed")
	}
}

// TestManyOutstanding keeps 32 commands outstanding in one session: with a window
// wider than that, and with a 4-command window the initiator must wait on MaxCmdSN.
// Writes first, then reads of the same blocks, all in flight together.
func TestManyOutstanding(t *testing.T) {
	const outstanding, size = 32, 64 << 10
	for _, depth := range []uint32{128, 4} {
		t.Run(fmt.Sprint("window ", depth), func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.QueueDepth = depth
			svc := start(t, cfg, nil)
			s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(300), MaxBurstLength: 16384, FirstBurstLength: 8192, MaxOutstandingR2T: 2})
			ready(t, s, 0)
			data := make([][]byte, outstanding)
			tasks := make([]*initiator.Task, outstanding)
			for i := range outstanding {
				data[i] = randomData(uint64(2000+i), size)
				tasks[i] = s.Submit(0, write16(uint64(i*size/blockSize), size/blockSize), data[i], 0)
			}
			for i, tk := range tasks {
				if r, err := tk.Wait(); err != nil || r.Status != 0 {
					t.Fatalf("write %d: %+v %v", i, r, err)
				}
			}
			for i := range outstanding {
				tasks[i] = s.Submit(0, read16(uint64(i*size/blockSize), size/blockSize), nil, size)
			}
			for i, tk := range tasks {
				r, err := tk.Wait()
				if err != nil || r.Status != 0 {
					t.Fatalf("read %d: %+v %v", i, r, err)
				}
				if string(r.Data) != string(data[i]) {
					t.Fatalf("read %d: data differs from what was written", i)
				}
			}
			if err := s.Nop([]byte("still there")); err != nil {
				t.Fatalf("nop after the burst: %v", err)
			}
		})
	}
}
