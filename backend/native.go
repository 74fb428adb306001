package backend

import (
	"errors"
	"fmt"
)

// ErrNoNative is returned by a wrapper's store-native call (CompareAndWrite,
// WriteSame) when it cannot pass it on now (the store lacks it, or faults are set):
// the caller then does the operation the generic way (read, compare, WriteAt), with
// the same effect but only the LUN's own, in-process atomicity.
var ErrNoNative = errors.New("store-native operation unavailable")

// ComparerWriter is implemented by stores that can compare and write a range as one
// atomic operation of the store itself (librbd's compare-and-write), so that COMPARE
// AND WRITE is atomic against every client of a shared store, not only against the
// commands of one process.
type ComparerWriter interface {
	// CompareAndWrite writes data at off if the store holds cmp there (len(cmp) ==
	// len(data)); otherwise it writes nothing and returns a *MiscompareError. With
	// stable=true the data is durable before it returns, as WriteAt's.
	CompareAndWrite(cmp, data []byte, off int64, stable bool) error
}

// MiscompareError is CompareAndWrite's answer when the store's data differs from
// cmp: Offset is the first differing byte, counted from the start of the range.
type MiscompareError struct{ Offset int64 }

// Error describes the miscompare.
func (e *MiscompareError) Error() string {
	return fmt.Sprintf("compare and write: data differs at byte %d of the range", e.Offset)
}

// WriteSamer is implemented by stores that replicate one block over a range
// themselves (librbd's writesame), so WRITE SAME sends the block once, not the range.
type WriteSamer interface {
	// WriteSame writes block repeatedly over [off, off+length); length is a
	// multiple of len(block). stable as for WriteAt.
	WriteSame(block []byte, off, length int64, stable bool) error
}

// SizeWatcher is implemented by stores whose capacity is changed from outside the
// target (an RBD image grown with `rbd resize`): the target passes a function the
// store calls with the new size after each such change (and after its own Resize
// never), so the LUN reports it with CAPACITY DATA HAS CHANGED.
type SizeWatcher interface {
	OnResize(func(size int64))
}
