package backend

import "sync/atomic"

// Counters counts calls made through WithCounters, so tests can check sync
// semantics (for example: a FUA write is one stable write and no Sync).
// Calls are counted when made, whether or not they succeed. Writes counts
// every WriteAt; StableWrites counts those with stable=true as well.
type Counters struct {
	Reads, Writes, StableWrites, Syncs, Unmaps atomic.Int64
}

// counting is the wrapper behind WithCounters.
type counting struct {
	Backend
	c *Counters
}

// WithCounters returns b with every call counted in c (which must not be
// nil). A BlockSizer stays a BlockSizer.
func WithCounters(b Backend, c *Counters) Backend {
	return keepBlockSizer(b, &counting{Backend: b, c: c})
}

// ReadAt counts a read.
func (w *counting) ReadAt(p []byte, off int64) (int, error) {
	w.c.Reads.Add(1)
	return w.Backend.ReadAt(p, off)
}

// WriteAt counts a write and, if stable, a stable write.
func (w *counting) WriteAt(p []byte, off int64, stable bool) error {
	w.c.Writes.Add(1)
	if stable {
		w.c.StableWrites.Add(1)
	}
	return w.Backend.WriteAt(p, off, stable)
}

// Sync counts a sync.
func (w *counting) Sync() error {
	w.c.Syncs.Add(1)
	return w.Backend.Sync()
}

// Unmap counts an unmap.
func (w *counting) Unmap(off, length int64) error {
	w.c.Unmaps.Add(1)
	return w.Backend.Unmap(off, length)
}
