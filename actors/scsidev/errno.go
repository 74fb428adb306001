package scsidev

import (
	"errors"
	"syscall"

	"github.com/atgt/atgt/messages/scsi"
)

// errnoSenses maps the errors a store reports (an errno from the kernel, or
// librbd's negative return as one) to the sense an initiator can act on, where
// MEDIUM ERROR (the default: the medium is bad, do not retry it) would mislead
// it. Each choice follows what Linux's SCSI midlayer (scsi_check_sense,
// scsi_io_completion_action) and dm-multipath do with the answer:
//
//   - ENOSPC, EDQUOT on a thin LU (the filesystem or the pool under it is
//     full): DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27/07), SBC-4
//     4.7.3 (resource exhaustion of a thin LU). Linux fails the IO with ENOSPC (BLK_STS_NOSPC), which
//     dm-multipath does not count as a path failure; VMware pauses the VM
//     with an out-of-space question. On a fully provisioned LU (LBPME=0) the
//     code is not defined: the LU promised that a write never needs space,
//     so ENOSPC there (a copy-on-write filesystem under a preallocated file,
//     a file grown before it was made thick) is the medium failing its
//     promise, a WRITE ERROR as before.
//   - EROFS (the filesystem under the image remounted read-only after an
//     error): DATA PROTECT, WRITE PROTECTED (27/00), as a read-only LU
//     answers. Linux fails it at once (BLK_STS_TARGET) instead of retrying a
//     MEDIUM ERROR that cannot succeed.
//   - ENXIO, ENODEV (the block device behind the LU vanished): NOT READY,
//     LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED (04/03). Linux
//     fails NOT READY at once unless the ASCQ says "in progress" (04/01, 04/04,
//     ...), as BLK_STS_IOERR, which dm-multipath takes as a path failure and
//     retries on another path: another gateway may still see a shared device.
//     HARDWARE ERROR would be BLK_STS_TARGET, failed on every path without
//     trying another; MEDIUM ERROR would blame each block, and a read's 11/00
//     makes filesystems mark blocks bad. NOT READY is also what an offline
//     LUN answers (LOGICAL UNIT FAILURE).
//   - ETIMEDOUT (librados' op timeout: the cluster did not answer): ABORTED
//     COMMAND, LOGICAL UNIT COMMUNICATION TIME-OUT (08/01). Linux retries an
//     ABORTED COMMAND on the same path (NEEDS_RETRY, up to the disk's retry
//     count) and then fails it as a path error, so multipath moves on. Not
//     UNIT ATTENTION, which reports a change of state that did not happen
//     (and a removable LU's UA fails the IO); not NOT READY, whose only
//     retried codes are 04/xx "in progress" states this is not; not the
//     COMMAND TIMEOUT codes 2E/01-03, which Linux takes as a command duration
//     limit expiry and never retries.
//
// read: the IO read (a write's codes do not apply); thin: the LU is thin
// provisioned. Nil means no errno here has a better answer than the medium
// error.
var errnoSenses = []struct {
	errno syscall.Errno
	// writeOnly: only a write can meet it; thinOnly: only on a thin LU.
	writeOnly, thinOnly bool
	sense               func() *scsi.SenseError
}{
	{syscall.ENOSPC, true, true, scsi.SpaceAllocationFailed},
	{syscall.EDQUOT, true, true, scsi.SpaceAllocationFailed},
	{syscall.EROFS, true, false, scsi.WriteProtected},
	{syscall.ENXIO, false, false, scsi.NotReadyManualIntervention},
	{syscall.ENODEV, false, false, scsi.NotReadyManualIntervention},
	{syscall.ETIMEDOUT, false, false, scsi.CommunicationTimeout},
}

// errnoSense returns the sense errnoSenses gives err, or nil.
func errnoSense(err error, read, thin bool) *scsi.SenseError {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	for _, e := range errnoSenses {
		if e.errno == errno && !(e.writeOnly && read) && !(e.thinOnly && !thin) {
			return e.sense()
		}
	}
	return nil
}

// CopyAbortedSense is the EXTENDED COPY's COPY ABORTED sense (SPC-4 6.4.3) for a
// copy whose read (read) or write failed with the sense key, asc and ascq a logical
// unit gave (or would give) the failed command: a cause errnoSenses can give (out of
// space 27/07, write protected 27/00, not ready 04/03, time-out 08/01) keeps its
// additional sense code, as does any other DATA PROTECT 27/xx, a MEDIUM ERROR becomes UNRECOVERED READ ERROR (11/00) or
// WRITE ERROR (0C/00), and anything else nil (the caller decides).
func CopyAbortedSense(key, asc, ascq uint8, read bool) *scsi.SenseError {
	for _, e := range errnoSenses {
		if s := e.sense(); s.Key == key && s.ASC == asc && s.ASCQ == ascq {
			return scsi.CopyAborted(asc, ascq)
		}
	}
	switch {
	case key == scsi.SenseDataProtect && asc == 0x27: // any write protection
		return scsi.CopyAborted(asc, ascq)
	case key == scsi.SenseMediumError && read:
		return scsi.CopyAborted(0x11, 0x00)
	case key == scsi.SenseMediumError:
		return scsi.CopyAborted(0x0C, 0x00)
	}
	return nil
}

// CopyStoreError is the COPY ABORTED sense of an EXTENDED COPY within one LU whose
// read (read) or write failed with the store error err, on a thin LU or not: the
// sense the normal error table (errnoSense, else a medium error) gives, as
// CopyAbortedSense carries it.
func CopyStoreError(err error, read, thin bool) *scsi.SenseError {
	se := errnoSense(err, read, thin)
	switch {
	case se != nil:
	case read:
		se = scsi.UnrecoveredReadError()
	default:
		se = scsi.WriteError()
	}
	return CopyAbortedSense(se.Key, se.ASC, se.ASCQ, read)
}
