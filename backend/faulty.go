package backend

import "fmt"

// Fault describes one injected failure for Faults: which operation, at
// which offset, and whether it returns Err or panics (to test IO worker
// supervision).
type Fault struct {
	// Op is "read", "write", "sync" or "unmap".
	Op string
	// Err is returned by the operation (or carried by the panic).
	Err error
	// Panic makes the operation panic with an *InjectedPanic.
	Panic bool
	// Off is the offset the operation must start at; -1 matches any
	// offset. Sync has no offset and is reported as -1.
	Off int64
}

// InjectedPanic is the value a faulty backend panics with, so a supervisor
// test can tell an injected panic from a real bug.
type InjectedPanic struct {
	Op  string
	Off int64
	Err error
}

// Error describes the injected panic.
func (p *InjectedPanic) Error() string {
	return fmt.Sprintf("backend: injected panic in %s at offset %d: %v", p.Op, p.Off, p.Err)
}

// Unwrap exposes the carried error.
func (p *InjectedPanic) Unwrap() error { return p.Err }

// Faults turns a list of Fault into the decision function WithFaults takes;
// the first matching Fault wins, and it fires on every matching call.
func Faults(faults ...Fault) func(op string, off int64) (panicNow bool, err error) {
	return func(op string, off int64) (bool, error) {
		for _, f := range faults {
			if f.Op == op && (f.Off == -1 || f.Off == off) {
				return f.Panic, f.Err
			}
		}
		return false, nil
	}
}

// faulty is the wrapper behind WithFaults.
type faulty struct {
	Backend
	decide func(op string, off int64) (bool, error)
}

// WithFaults returns b with faults consulted before every read, write, sync
// (offset -1) and unmap: panicNow makes the call panic with an
// *InjectedPanic, a non-nil err makes it fail without touching b. Size and
// Close are passed through. A BlockSizer stays a BlockSizer. It is the tests'
// hook, which any Go function can drive; the faults a LUN's config declares
// are package backend/faults.
func WithFaults(b Backend, faults func(op string, off int64) (panicNow bool, err error)) Backend {
	return keepBlockSizer(b, &faulty{Backend: b, decide: faults})
}

// inject applies the decision for one call.
func (w *faulty) inject(op string, off int64) error {
	panicNow, err := w.decide(op, off)
	if panicNow {
		panic(&InjectedPanic{Op: op, Off: off, Err: err})
	}
	return err
}

// ReadAt may fail or panic before reading.
func (w *faulty) ReadAt(p []byte, off int64) (int, error) {
	if err := w.inject("read", off); err != nil {
		return 0, err
	}
	return w.Backend.ReadAt(p, off)
}

// WriteAt may fail or panic before writing.
func (w *faulty) WriteAt(p []byte, off int64, stable bool) error {
	if err := w.inject("write", off); err != nil {
		return err
	}
	return w.Backend.WriteAt(p, off, stable)
}

// Sync may fail or panic before syncing.
func (w *faulty) Sync() error {
	if err := w.inject("sync", -1); err != nil {
		return err
	}
	return w.Backend.Sync()
}

// Unmap may fail or panic before unmapping.
func (w *faulty) Unmap(off, length int64) error {
	if err := w.inject("unmap", off); err != nil {
		return err
	}
	return w.Backend.Unmap(off, length)
}
