package backend

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"
)

// TestFencedRead: a read the cluster refused because the client is blocklisted
// (ESHUTDOWN) is a fenced call (the LUN answers NOT READY, retried), keeping its
// cause; any other failure is left as it is.
func TestFencedRead(t *testing.T) {
	refused := &fs.PathError{Op: "read", Path: "rbd:rbd/vm1", Err: syscall.ESHUTDOWN}
	if err := fencedRead(refused); !errors.Is(err, ErrFenced) || !errors.Is(err, syscall.ESHUTDOWN) {
		t.Fatalf("read refused with ESHUTDOWN: %v, want ErrFenced with its cause", err)
	}
	for _, err := range []error{nil, &fs.PathError{Op: "read", Path: "rbd:rbd/vm1", Err: syscall.EIO}, ErrFenced} {
		if got := fencedRead(err); got != err {
			t.Errorf("%v became %v", err, got)
		}
	}
}
