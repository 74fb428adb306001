package scsidev

import "fmt"

// LBAError is a backend error whose first failing logical block is known: the
// MEDIUM ERROR it becomes reports that LBA in the INFORMATION field with VALID
// set (SBC-4 4.18.1), so that an initiator can complete the blocks before it.
type LBAError struct {
	Err error
	LBA uint64
}

// Error names the block for the log.
func (e *LBAError) Error() string { return fmt.Sprintf("LBA %d: %v", e.LBA, e.Err) }

// Unwrap returns the backend error.
func (e *LBAError) Unwrap() error { return e.Err }

// FailedAt is err as an LBAError at lba, or nil if err is nil.
func FailedAt(err error, lba uint64) error {
	if err == nil {
		return nil
	}
	return &LBAError{Err: err, LBA: lba}
}
