package lun

import (
	"github.com/atgt/atgt/backend"
)

// IO policies (the config's io_policy): the designs that Fujita and Ogawara's
// "Analysis of iSCSI Target Software" compared, as settings of one target so that
// their trade-offs can be measured on today's machines (README "IO policies"). The
// paper's Ardis design, IO threads driving a modified kernel's page cache, has no
// userspace equivalent and so no policy.
const (
	// PolicyThreaded is Threaded-Ardis: several workers, buffered IO, ranged
	// durability. The default.
	PolicyThreaded = "threaded"
	// PolicySingle is UNH-file: one worker, buffered IO, the same durability.
	PolicySingle = "single"
	// PolicySingleSync is UNH-file-sync: one worker, and every write is followed by
	// a sync of the whole file before it is answered.
	PolicySingleSync = "single-sync"
	// PolicyDirect is UNH-disk: several workers with O_DIRECT.
	PolicyDirect = "direct"
)

// Policies lists the IO policies in the paper's order, for validation and benchmarks.
var Policies = []string{PolicyThreaded, PolicySingle, PolicySingleSync, PolicyDirect}

// OneWorker reports whether policy allows only one IO worker.
func OneWorker(policy string) bool { return policy == PolicySingle || policy == PolicySingleSync }

// ApplyPolicy wraps a LUN's backend as its IO policy needs. Only single-sync
// changes the backend; the other policies differ in worker count and open flags,
// so the default path gets no wrapper and no cost.
func ApplyPolicy(policy string, b backend.Backend) backend.Backend {
	if policy == PolicySingleSync {
		return backend.KeepOptional(b, &syncEachWrite{Backend: b})
	}
	return b
}

// syncEachWrite makes every write durable with a sync of the whole backend before
// it returns, as the paper's UNH-file-sync did with sys_fsync before answering a
// WRITE. It hides vectored writes, so that a merged run of writes is written part
// by part and each part (each command) pays its own sync, as in the paper.
type syncEachWrite struct {
	backend.Backend
}

// WriteAt writes p, then syncs the whole backend (fdatasync for a file).
func (s *syncEachWrite) WriteAt(p []byte, off int64, stable bool) error {
	if err := s.Backend.WriteAt(p, off, stable); err != nil {
		return err
	}
	return s.Backend.Sync()
}

// ReadVec keeps the inner backend's vectored reads: reads are as in single.
func (s *syncEachWrite) ReadVec(bufs [][]byte, off int64) error {
	if vr, ok := s.Backend.(backend.VectorReader); ok {
		return vr.ReadVec(bufs, off)
	}
	return backend.ErrNoVector
}

// Unmap deallocates, then syncs: a deallocation is a change of the data too.
func (s *syncEachWrite) Unmap(off, length int64) error {
	if err := s.Backend.Unmap(off, length); err != nil {
		return err
	}
	return s.Backend.Sync()
}

// CompareAndWrite passes to the store's own atomic compare-and-write (RBD's, atomic
// against every gateway) and syncs after a write; a store without one answers
// backend.ErrNoNative, and the LUN then reads, compares and writes through ReadAt
// and WriteAt (which sync). A miscompare wrote nothing and is not synced.
func (s *syncEachWrite) CompareAndWrite(cmp, data []byte, off int64, stable bool) error {
	cw, ok := s.Backend.(backend.ComparerWriter)
	if !ok {
		return backend.ErrNoNative
	}
	if err := cw.CompareAndWrite(cmp, data, off, stable); err != nil {
		return err
	}
	return s.Backend.Sync()
}

// WriteSame passes to the store's own write-same and syncs after it; a store without
// one answers backend.ErrNoNative, and the LUN writes through WriteAt (which syncs).
func (s *syncEachWrite) WriteSame(block []byte, off, length int64, stable bool) error {
	ws, ok := s.Backend.(backend.WriteSamer)
	if !ok {
		return backend.ErrNoNative
	}
	if err := ws.WriteSame(block, off, length, stable); err != nil {
		return err
	}
	return s.Backend.Sync()
}
