package backend

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A store opened Shared by several gateways (README "Several gateways") with
// O_DIRECT must never lose an acknowledged write. A LUN block smaller than the
// O_DIRECT alignment would make each write a read-modify-write of the aligned
// block around it, ordered only within one process (directIO.rmw): two gateways
// writing neighbouring blocks could each write back the other's stale bytes. Such
// a store is refused at open, naming blockSize and both sizes.
func TestSharedDirectRefusesBlockBelowAlignment(t *testing.T) {
	old := directAlignmentOf
	t.Cleanup(func() { directAlignmentOf = old })
	directAlignmentOf = func(f *os.File, path string) (int64, int, error) { return 4096, directMemAlign, nil }
	path := filepath.Join(t.TempDir(), "lun.img")
	b, err := Open(Options{Path: path, Size: 1 << 20, Create: true, Direct: true, Shared: true, BlockSize: 512})
	if err == nil {
		b.Close()
		t.Fatal("a shared O_DIRECT store with 512-byte blocks on a 4096-byte alignment was opened: " +
			"two gateways' read-modify-writes of one aligned block can lose an acknowledged write")
	}
	for _, want := range []string{"blockSize 512", "alignment 4096", "directIo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Not shared, read-only, or blocks as large as the alignment: no cross-process RMW.
	for _, o := range []Options{
		{Path: path, Direct: true, BlockSize: 512},
		{Path: path, Direct: true, Shared: true, ReadOnly: true, BlockSize: 512},
		{Path: path, Direct: true, Shared: true, BlockSize: 4096},
	} {
		b, err := Open(o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		b.Close()
	}
}

// Two gateways on one shared O_DIRECT file, each writing its own LUN block
// concurrently, both keep their writes: a block size that opens is at least the
// alignment, so no write merges into another's aligned block.
func TestSharedDirectKeepsBothGatewaysWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lun.img")
	probe := openDirect(t, path, 1<<20)
	bs := int(max(probe.direct.align, 512))
	probe.Close()
	a, err := Open(Options{Path: path, Direct: true, Shared: true, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(Options{Path: path, Direct: true, Shared: true, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for round := range 500 {
		pa, pb := bytes.Repeat([]byte{byte(round)}, bs), bytes.Repeat([]byte{byte(round + 1)}, bs)
		var wg sync.WaitGroup
		var ea, eb error
		wg.Add(2)
		go func() { defer wg.Done(); ea = a.WriteAt(pa, 0, false) }()
		go func() { defer wg.Done(); eb = b.WriteAt(pb, int64(bs), false) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		got := make([]byte, 2*bs)
		if _, err := a.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:bs], pa) || !bytes.Equal(got[bs:], pb) {
			t.Fatalf("round %d: both writes returned success, but one was overwritten", round)
		}
	}
}
