package lun

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atgt/atgt/backend"
)

// nativeStore is a store with an atomic compare-and-write and a write-same of its
// own (as RBD's rbd_aio_compare_and_write and rbd_aio_writesame): for
// COMPARE AND WRITE the only way to be atomic against other gateways.
type nativeStore struct {
	backend.Backend
	caws, sames, syncs int
}

func (c *nativeStore) CompareAndWrite(cmp, data []byte, off int64, stable bool) error {
	c.caws++
	cur := make([]byte, len(cmp))
	if _, err := c.Backend.ReadAt(cur, off); err != nil {
		return err
	}
	if !bytes.Equal(cur, cmp) {
		return &backend.MiscompareError{Offset: off}
	}
	return c.Backend.WriteAt(data, off, stable)
}

func (c *nativeStore) WriteSame(block []byte, off, length int64, stable bool) error {
	c.sames++
	for o := off; o < off+length; o += int64(len(block)) {
		if err := c.Backend.WriteAt(block, o, stable); err != nil {
			return err
		}
	}
	return nil
}

func (c *nativeStore) Sync() error { c.syncs++; return c.Backend.Sync() }

// ioPolicy single-sync keeps the store's native compare-and-write (so COMPARE AND
// WRITE on RBD stays atomic across gateways, README "RBD") and write-same, and
// syncs after each write they make.
func TestSingleSyncKeepsNativeCompareAndWrite(t *testing.T) {
	store := &nativeStore{Backend: backend.NewMemory(1 << 20)}
	b := ApplyPolicy(PolicySingleSync, store)
	cw, ok := b.(backend.ComparerWriter)
	if !ok {
		t.Fatal("single-sync backend is no ComparerWriter")
	}
	blk := make([]byte, 512)
	err := cw.CompareAndWrite(blk, bytes.Repeat([]byte{1}, 512), 0, false)
	if errors.Is(err, backend.ErrNoNative) || store.caws == 0 {
		t.Fatalf("single-sync hides the store's atomic compare-and-write (err %v, store calls %d): "+
			"COMPARE AND WRITE falls back to a per-gateway read-compare-write", err, store.caws)
	}
	if err != nil || store.syncs != 1 {
		t.Fatalf("compare-and-write: err %v, syncs %d, want nil and 1", err, store.syncs)
	}
	if err := cw.CompareAndWrite(blk, blk, 0, false); !errors.As(err, new(*backend.MiscompareError)) {
		t.Fatalf("miscompare answered %v", err)
	}
	ws, ok := b.(backend.WriteSamer)
	if !ok {
		t.Fatal("single-sync backend is no WriteSamer")
	}
	if err := ws.WriteSame(blk, 0, 4096, false); err != nil || store.sames != 1 || store.syncs != 2 {
		t.Fatalf("write-same: err %v, store calls %d, syncs %d, want nil, 1, 2", err, store.sames, store.syncs)
	}
	// A store without them still answers ErrNoNative, so the LUN does them itself.
	plain := ApplyPolicy(PolicySingleSync, backend.NewMemory(1<<20))
	if cw, ok := plain.(backend.ComparerWriter); ok {
		if err := cw.CompareAndWrite(blk, blk, 0, false); !errors.Is(err, backend.ErrNoNative) {
			t.Fatalf("plain store: %v, want ErrNoNative", err)
		}
	}
}
