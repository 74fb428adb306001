package inprocess

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestErrnoSense: what the store's errno becomes at the initiator (README "IO
// errors"). A write to a thin LU whose store is out of space (ENOSPC, injected as
// the file backend reports it) is DATA PROTECT, SPACE ALLOCATION FAILED WRITE
// PROTECT (07/27/07), the code Linux turns into ENOSPC; on a thick LU it stays a
// WRITE ERROR; a read-only store is WRITE PROTECTED, a vanished device NOT READY,
// a cluster timeout ABORTED COMMAND (retried by the initiator).
func TestErrnoSense(t *testing.T) {
	errno := func(op string, e syscall.Errno) error { return &fs.PathError{Op: op, Path: "/x/lun.img", Err: e} }
	luns := []struct {
		prov  string
		fault backend.Fault
	}{
		0: {"", backend.Fault{Op: "write", Err: errno("write", syscall.ENOSPC), Off: -1}},
		1: {"thick", backend.Fault{Op: "write", Err: errno("write", syscall.ENOSPC), Off: -1}},
		2: {"thin", backend.Fault{Op: "write", Err: errno("write", syscall.EDQUOT), Off: -1}},
		3: {"", backend.Fault{Op: "write", Err: errno("write", syscall.EROFS), Off: -1}},
		4: {"", backend.Fault{Op: "read", Err: errno("read", syscall.ENXIO), Off: -1}},
		5: {"", backend.Fault{Op: "write", Err: errno("write", syscall.ETIMEDOUT), Off: -1}},
		6: {"", backend.Fault{Op: "sync", Err: errno("sync", syscall.ENOSPC), Off: -1}},
	}
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = nil
	for id, l := range luns {
		cfg.Targets[0].Luns = append(cfg.Targets[0].Luns,
			&pb.Lun{Id: uint64(id), Backend: "memory", SizeBytes: lunSize, Provisioning: l.prov})
	}
	svc := start(t, cfg, func(_ string, lun uint64, b backend.Backend) backend.Backend {
		return backend.WithFaults(b, backend.Faults(luns[lun].fault))
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(510)})
	for lun := range luns {
		ready(t, s, uint64(lun))
	}
	write := func(fua bool, n int) func(uint64) error {
		return func(l uint64) error { return s.Write(l, 8, randomData(uint64(n), n), blockSize, fua) }
	}
	tests := []struct {
		name string
		lun  uint64
		op   func(uint64) error
		want [3]uint8
	}{
		{"thin ENOSPC write", 0, write(false, 4096), [3]uint8{scsi.SenseDataProtect, 0x27, 0x07}},
		{"thin ENOSPC FUA write", 0, write(true, 4096), [3]uint8{scsi.SenseDataProtect, 0x27, 0x07}},
		{"thin ENOSPC large write", 0, write(false, 1<<20), [3]uint8{scsi.SenseDataProtect, 0x27, 0x07}},
		{"thick ENOSPC write", 1, write(false, 4096), [3]uint8{scsi.SenseMediumError, 0x0C, 0x00}},
		{"thin EDQUOT write", 2, write(false, 4096), [3]uint8{scsi.SenseDataProtect, 0x27, 0x07}},
		{"EROFS write", 3, write(false, 4096), [3]uint8{scsi.SenseDataProtect, 0x27, 0x00}},
		{"ENXIO read", 4, func(l uint64) error { _, err := s.Read(l, 0, 8, blockSize); return err },
			[3]uint8{scsi.SenseNotReady, 0x04, 0x03}},
		{"ETIMEDOUT write", 5, write(false, 4096), [3]uint8{scsi.SenseAbortedCommand, 0x08, 0x01}},
		{"thin ENOSPC sync", 6, func(l uint64) error { return s.SyncCache(l) },
			[3]uint8{scsi.SenseDataProtect, 0x27, 0x07}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(tc.lun)
			var se *initiator.SCSIError
			if !errors.As(err, &se) || se.Status != scsi.StatusCheckCondition {
				t.Fatalf("got %v, want CHECK CONDITION", err)
			}
			if got := [3]uint8{se.Key(), se.ASC(), se.ASCQ()}; got != tc.want {
				t.Fatalf("got sense %s, want %s", fmtSense(got), fmtSense(tc.want))
			}
		})
	}
}

// fmtSense prints key/ASC/ASCQ as the standards write them.
func fmtSense(s [3]uint8) string { return fmt.Sprintf("%02x/%02x/%02x", s[0], s[1], s[2]) }
