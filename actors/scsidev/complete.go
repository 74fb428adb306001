package scsidev

import (
	"errors"

	"github.com/atgt/atgt/messages/scsi"
)

// CompleteIO finishes a command whose IO a worker performed. readData is what
// was read (for IORead the data-in, for IOVerify the medium contents to
// compare with io.Data); err is the backend error. A failed or short IO is
// never GOOD: it becomes MEDIUM ERROR (or the sense err carries). It needs no
// device state, so IO workers call it concurrently.
func CompleteIO(io IO, readData []byte, err error) Result {
	if err != nil {
		var se *scsi.SenseError
		if errors.As(err, &se) && se != nil {
			return checkCondition(se)
		}
		return checkCondition(ioError(io.Kind))
	}
	switch io.Kind {
	case IORead:
		if int64(len(readData)) < io.Length {
			return checkCondition(scsi.UnrecoveredReadError())
		}
		return good(readData[:io.Length])
	case IOVerify:
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

// ioError is the sense for a failed IO of the given kind.
func ioError(k IOKind) *scsi.SenseError {
	switch k {
	case IORead, IOVerify:
		return scsi.UnrecoveredReadError()
	}
	return scsi.WriteError()
}
