package faults

import "github.com/atgt/atgt/backend"

// faulty is the backend wrapper behind Injector.Wrap. While the injector has faults,
// its vectored calls (backend.VectorReader, VectorWriter) answer backend.ErrNoVector,
// so the IO workers perform a merged run part by part and each command meets the
// faults on its own; without faults they pass straight to the wrapped backend, so a
// LUN whose faults an administrator may set at runtime costs nothing until then.
type faulty struct {
	backend.Backend
	inj *Injector
}

// Wrap returns b with the injector's faults applied to every ReadAt (Read), WriteAt
// (Write, stable or not), Sync (Sync, no range) and Unmap (Unmap) before the call
// reaches b. Size, Close and the optional BlockSizer and Mapper (GET LBA STATUS) pass
// straight through.
func (i *Injector) Wrap(b backend.Backend) backend.Backend {
	f := &faulty{Backend: b, inj: i}
	bs, sized := b.(backend.BlockSizer)
	m, mapper := b.(backend.Mapper)
	// The wrapper keeps the optional interfaces of b and its own vectored calls:
	// each combination is a type that embeds *faulty, so ReadVec and WriteVec stay
	// promoted (backend.KeepOptional's wrappers embed an interface and would hide them).
	switch {
	case sized && mapper:
		return &faultySizedMapped{faulty: f, BlockSizer: bs, Mapper: m}
	case sized:
		return &faultySized{faulty: f, BlockSizer: bs}
	case mapper:
		return &faultyMapped{faulty: f, Mapper: m}
	}
	return f
}

// faultySized, faultyMapped and faultySizedMapped are faulty with the wrapped
// backend's optional interfaces.
type (
	faultySized struct {
		*faulty
		backend.BlockSizer
	}
	faultyMapped struct {
		*faulty
		backend.Mapper
	}
	faultySizedMapped struct {
		*faulty
		backend.BlockSizer
		backend.Mapper
	}
)

// ReadAt may wait, fail or panic before reading.
func (w *faulty) ReadAt(p []byte, off int64) (int, error) {
	if err := w.inj.call(Read, off, int64(len(p))); err != nil {
		return 0, err
	}
	return w.Backend.ReadAt(p, off)
}

// WriteAt may wait, fail or panic before writing.
func (w *faulty) WriteAt(p []byte, off int64, stable bool) error {
	if err := w.inj.call(Write, off, int64(len(p))); err != nil {
		return err
	}
	return w.Backend.WriteAt(p, off, stable)
}

// Sync may wait, fail or panic before syncing; it has no range.
func (w *faulty) Sync() error {
	if err := w.inj.call(Sync, 0, 0); err != nil {
		return err
	}
	return w.Backend.Sync()
}

// Unmap may wait, fail or panic before deallocating.
func (w *faulty) Unmap(off, length int64) error {
	if err := w.inj.call(Unmap, off, length); err != nil {
		return err
	}
	return w.Backend.Unmap(off, length)
}

// active reports whether the injector has faults.
func (w *faulty) active() bool { return len(w.inj.cur.Load().faults) > 0 }

// ReadVec passes to the wrapped backend while no fault is set.
func (w *faulty) ReadVec(bufs [][]byte, off int64) error {
	vr, ok := w.Backend.(backend.VectorReader)
	if !ok || w.active() {
		return backend.ErrNoVector
	}
	return vr.ReadVec(bufs, off)
}

// WriteVec passes to the wrapped backend while no fault is set.
func (w *faulty) WriteVec(bufs [][]byte, off int64) error {
	vw, ok := w.Backend.(backend.VectorWriter)
	if !ok || w.active() {
		return backend.ErrNoVector
	}
	return vw.WriteVec(bufs, off)
}

// CompareAndWrite passes to the wrapped store's while no fault is set; with faults
// set the LUN reads, compares and writes through ReadAt and WriteAt, which meet them.
func (w *faulty) CompareAndWrite(cmp, data []byte, off int64, stable bool) error {
	cw, ok := w.Backend.(backend.ComparerWriter)
	if !ok || w.active() {
		return backend.ErrNoNative
	}
	return cw.CompareAndWrite(cmp, data, off, stable)
}

// WriteSame passes to the wrapped store's while no fault is set.
func (w *faulty) WriteSame(block []byte, off, length int64, stable bool) error {
	ws, ok := w.Backend.(backend.WriteSamer)
	if !ok || w.active() {
		return backend.ErrNoNative
	}
	return ws.WriteSame(block, off, length, stable)
}

// StartWriteback passes to the wrapped backend's, if it has one: a hint that
// moves no data, so no fault applies to it.
func (w *faulty) StartWriteback(off, length int64) {
	if wb, ok := w.Backend.(backend.WriteBehinder); ok {
		wb.StartWriteback(off, length)
	}
}
