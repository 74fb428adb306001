package reservation

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestWriteStateFileHungPathHoldsOnlyItself: a save whose state directory
// hangs (a stuck NFS or FUSE mount; here the state file is a FIFO, whose open
// blocks until a writer comes) must hold only saves to its own file. Another
// LUN's save, to another path on a working disk, completes at once: were the
// saves of the whole process serialised, that LUN's PERSISTENT RESERVE OUT
// commands would hang until their own ioTimeout although its disk is fine.
func TestWriteStateFileHungPathHoldsOnlyItself(t *testing.T) {
	dir := t.TempDir()
	hung, fine := filepath.Join(dir, "hung.pr"), filepath.Join(dir, "fine.pr")
	if err := syscall.Mkfifo(hung, 0o600); err != nil {
		t.Fatal(err)
	}
	tb := New()
	out := prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 1)
	mustGood(t, out, "REGISTER A, APTPL")
	tb.Saved(true)

	hungDone, hungReturned := make(chan error, 1), make(chan struct{})
	go func() {
		err := WriteStateFile(hung, out.Persist)
		close(hungReturned)
		hungDone <- err
	}()
	stop := make(chan struct{})
	release := func() {
		// A writer's open lets each open of the FIFO by the hung save
		// return (it reads nothing); it then writes its snapshot over it.
		select {
		case <-stop:
			return
		default:
		}
		close(stop)
		go func() {
			for {
				if f, err := os.OpenFile(hung, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				select {
				case <-hungReturned:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	defer release()
	// Let the hung save reach the FIFO (and take whatever lock it takes).
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-hungDone:
		t.Fatalf("the save to the FIFO returned (%v) before a writer opened it: this test holds nothing", err)
	default:
	}

	fineDone := make(chan error, 1)
	go func() { fineDone <- WriteStateFile(fine, out.Persist) }()
	select {
	case err := <-fineDone:
		if err != nil {
			t.Fatalf("save to a working path: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a save to a working path waited 2 s behind a save to another path that hangs")
	}
	if got, err := LoadState(fine); err != nil || len(got.regs) != 1 {
		t.Fatalf("state file of the working path: %v, %v; want A's registration", got, err)
	}

	release()
	select {
	case err := <-hungDone:
		if err != nil {
			t.Fatalf("the held save, released: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held save did not end once released")
	}
}
