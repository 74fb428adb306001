package scsidev

import (
	"errors"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// CompleteIO finishes a command whose IO a worker performed. readData is what
// was read (for a READ the data-in, for a VERIFY the medium contents to
// compare with io.Data); err is the backend error. A failed or short IO is
// never GOOD: it becomes the sense err carries, or the one ioError gives its
// kind. It needs no device state, so IO workers call it concurrently.
func CompleteIO(io IO, readData []byte, err error) Result {
	if err != nil {
		var se *scsi.SenseError
		if errors.As(err, &se) && se != nil {
			return checkCondition(se)
		}
		sense := *ioError(io, err)
		var at *LBAError
		if sense.Key == scsi.SenseMediumError && errors.As(err, &at) {
			sense.Info, sense.InfoValid = at.LBA, true
		}
		return checkCondition(&sense)
	}
	switch io.Kind {
	case pb.IoKind_IO_KIND_READ:
		if int64(len(readData)) < io.Length {
			return checkCondition(scsi.UnrecoveredReadError())
		}
		return good(readData[:io.Length])
	case pb.IoKind_IO_KIND_VERIFY:
		if int64(len(readData)) < int64(len(io.Data)) {
			return checkCondition(scsi.UnrecoveredReadError())
		}
		for i, c := range io.Data {
			if readData[i] != c {
				return checkCondition(scsi.Miscompare(uint64(i)))
			}
		}
		return good(nil)
	}
	return good(nil)
}

// ReadError is a backend error in the read a read-modify-write IO starts
// with (COMPARE AND WRITE, ORWRITE): the initiator is told the read failed,
// not the write its IO's kind would suggest.
type ReadError struct{ Err error }

// Error names the phase for the log.
func (e *ReadError) Error() string { return "read before write: " + e.Err.Error() }

// Unwrap returns the backend error.
func (e *ReadError) Unwrap() error { return e.Err }

// ioError is the sense for a failed IO: INTERNAL TARGET FAILURE when a state
// file could not be made durable, which is no medium's fault; the sense
// errnoSense gives the store's errno (out of space, read-only, gone, timed
// out); otherwise a read error for the IO that only read, or failed in its
// read (ReadError), and a write error for the rest.
func ioError(io IO, err error) *scsi.SenseError {
	read := false
	switch io.Kind {
	case pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, pb.IoKind_IO_KIND_SAVE_MODE_PAGES:
		return scsi.InternalTargetFailure()
	case pb.IoKind_IO_KIND_READ, pb.IoKind_IO_KIND_VERIFY, pb.IoKind_IO_KIND_LBA_STATUS:
		read = true
	}
	var re *ReadError
	if errors.As(err, &re) {
		read = true
	}
	// An EXTENDED COPY's store errors are mapped by the worker (lun's copyError,
	// CopyStoreError, on the LU's provisioning); one that reaches here has no
	// provisioning to go by: out of space stays a write error.
	thin := io.Thin && io.Kind != pb.IoKind_IO_KIND_COPY
	if se := errnoSense(err, read, thin); se != nil {
		return se
	}
	if read {
		return scsi.UnrecoveredReadError()
	}
	return scsi.WriteError()
}
