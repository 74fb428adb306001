package scsidev

import (
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestCompleteIOErrnoSense: the store's errno picks the sense where a medium error
// would mislead the initiator (errno.go): out of space on a thin LU, a read-only
// filesystem, a vanished device, a cluster timeout; the same errno wrapped as the
// backends wrap it (path errors, librbd's negative return as an Errno).
func TestCompleteIOErrnoSense(t *testing.T) {
	wrap := func(e syscall.Errno) error { return &fs.PathError{Op: "write", Path: "rbd:pool/image", Err: e} }
	const (
		write = pb.IoKind_IO_KIND_WRITE
		read  = pb.IoKind_IO_KIND_READ
	)
	tests := []struct {
		kind pb.IoKind
		thin bool
		err  error
		want string
	}{
		{write, true, syscall.ENOSPC, "07/27/07"},
		{write, true, wrap(syscall.ENOSPC), "07/27/07"},
		{write, true, wrap(syscall.EDQUOT), "07/27/07"},
		{pb.IoKind_IO_KIND_WRITE_SAME, true, wrap(syscall.ENOSPC), "07/27/07"},
		{pb.IoKind_IO_KIND_UNMAP, true, wrap(syscall.ENOSPC), "07/27/07"},
		{pb.IoKind_IO_KIND_SYNC, true, wrap(syscall.ENOSPC), "07/27/07"},
		{pb.IoKind_IO_KIND_COMPARE_AND_WRITE, true, wrap(syscall.ENOSPC), "07/27/07"},
		{write, false, wrap(syscall.ENOSPC), "03/0c/00"}, // thick: the LU broke its promise
		{write, false, wrap(syscall.EDQUOT), "03/0c/00"},
		{write, true, wrap(syscall.EROFS), "07/27/00"},
		{write, false, wrap(syscall.EROFS), "07/27/00"},
		{write, false, wrap(syscall.ENXIO), "02/04/03"},
		{read, false, wrap(syscall.ENXIO), "02/04/03"},
		{read, true, wrap(syscall.ENODEV), "02/04/03"},
		{pb.IoKind_IO_KIND_SYNC, false, wrap(syscall.ENODEV), "02/04/03"},
		{write, true, wrap(syscall.ETIMEDOUT), "0b/08/01"},
		{read, false, wrap(syscall.ETIMEDOUT), "0b/08/01"},
		{pb.IoKind_IO_KIND_SYNC, false, wrap(syscall.ETIMEDOUT), "0b/08/01"},
		// A read never reports a write's codes; the read of a read-modify-write
		// is a read.
		{read, true, wrap(syscall.ENOSPC), "03/11/00"},
		{pb.IoKind_IO_KIND_OR_WRITE, true, &ReadError{Err: wrap(syscall.ENOSPC)}, "03/11/00"},
		{pb.IoKind_IO_KIND_OR_WRITE, true, &ReadError{Err: wrap(syscall.ENXIO)}, "02/04/03"},
		// Other errnos stay medium errors; state files stay INTERNAL TARGET FAILURE.
		{write, true, wrap(syscall.EIO), "03/0c/00"},
		{read, true, wrap(syscall.EIO), "03/11/00"},
		{pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, true, wrap(syscall.ENOSPC), "04/44/00"},
		{pb.IoKind_IO_KIND_SAVE_MODE_PAGES, false, wrap(syscall.EROFS), "04/44/00"},
		// An EXTENDED COPY's write may be to another LU: not known to be thin.
		{pb.IoKind_IO_KIND_COPY, true, wrap(syscall.ENOSPC), "03/0c/00"},
		{pb.IoKind_IO_KIND_COPY, true, wrap(syscall.EROFS), "07/27/00"},
		// A sense error from the IO is kept as it is.
		{write, true, scsi.WriteProtected(), "07/27/00"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v thin=%v %v", tt.kind, tt.thin, tt.err), func(t *testing.T) {
			if got := outcome(CompleteIO(IO{Kind: tt.kind, Thin: tt.thin}, nil, tt.err)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
