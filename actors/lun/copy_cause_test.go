package lun

import (
	"errors"
	"io"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// failStore fails every read with rerr and every write with werr (when set).
type failStore struct {
	backend.Backend
	rerr, werr error
}

func (f failStore) ReadAt(p []byte, off int64) (int, error) {
	if f.rerr != nil {
		return 0, f.rerr
	}
	return f.Backend.ReadAt(p, off)
}

func (f failStore) WriteAt(p []byte, off int64, stable bool) error {
	if f.werr != nil {
		return f.werr
	}
	return f.Backend.WriteAt(p, off, stable)
}

// An EXTENDED COPY within one LU keeps the store error's meaning, as any other IO
// does (README "IO errors"): a fenced RBD client's refusal (it never reached the
// store) is answered NOT READY, which initiators retry; other causes abort the copy
// with the additional sense the normal error table gives (a full thin LU 27/07, a
// read-only filesystem 27/00, a vanished device 04/03, a cluster time-out 08/01),
// and only anything else is a read or write error.
func TestLocalCopyKeepsCause(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rerr, werr error
		thin       bool
		asc, ascq  uint8 // COPY ABORTED's; 0/0: NOT READY
	}{
		{"fenced write", nil, backend.ErrFenced, true, 0, 0},
		{"fenced read", backend.ErrFenced, nil, true, 0, 0},
		{"thin out of space", nil, syscall.ENOSPC, true, 0x27, 0x07},
		{"thin over quota", nil, syscall.EDQUOT, true, 0x27, 0x07},
		{"thick out of space", nil, syscall.ENOSPC, false, 0x0C, 0x00},
		{"read-only filesystem", nil, syscall.EROFS, true, 0x27, 0x00},
		{"device gone on read", syscall.ENXIO, nil, true, 0x04, 0x03},
		{"time-out on write", nil, syscall.ETIMEDOUT, true, 0x08, 0x01},
		{"read error", syscall.EIO, nil, true, 0x11, 0x00},
		{"short read", io.EOF, nil, true, 0x11, 0x00},
		{"write error", nil, syscall.EIO, true, 0x0C, 0x00},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &worker{b: failStore{backend.NewMemory(1 << 20), tc.rerr, tc.werr}, log: hclog.NewNullLogger(), thin: tc.thin}
			err := w.copySegments([]*pb.CopySegment{{SrcNaa: 1, DstNaa: 1, SrcOffset: 0, DstOffset: 4096, Length: 512}}, false)
			if tc.asc == 0 {
				if fencedAnswer(err) != errNotReady {
					t.Fatalf("store error %v answered as %v, want NOT READY", tc.werr, err)
				}
				return
			}
			se, ok := errors.AsType[*scsi.SenseError](err)
			if !ok || se.Key != scsi.SenseCopyAborted || se.ASC != tc.asc || se.ASCQ != tc.ascq {
				t.Fatalf("store error %v answered as %v, want COPY ABORTED %02x/%02x", errors.Join(tc.rerr, tc.werr), err, tc.asc, tc.ascq)
			}
		})
	}
}
