package inprocess

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// The data path benchmarks drive an in-process target over loopback TCP with the
// initiator's Pipeline, which allocates nothing per command, so that allocs/op is the
// target's own allocations per IO (plus the runtime's). They serve a file LUN through
// the page cache, as atgtd does. Run with
//
//	go test -run '^$' -bench DataPath -benchtime 20000x ./tests/inprocess
//
// The figures to watch are allocs/op, B/op and cpu-ns/op (the process's user and
// system CPU time per IO, client included); ns/op on a shared 2-core machine (client
// and target on the same cores) moves with the neighbours and the hypervisor's steal,
// which CPU time does not count.

const benchLUNSize = 256 << 20

// BenchmarkDataPath measures READ(10)/WRITE(10) of several sizes at queue depth 32.
func BenchmarkDataPath(b *testing.B) {
	for _, c := range []struct {
		write bool
		size  int
	}{{false, 4096}, {true, 4096}, {false, 128 << 10}, {true, 128 << 10}} {
		name := fmt.Sprintf("read-%dK", c.size>>10)
		if c.write {
			name = fmt.Sprintf("write-%dK", c.size>>10)
		}
		b.Run(name, func(b *testing.B) { benchDataPath(b, c.write, c.size, 32) })
	}
}

func benchDataPath(b *testing.B, write bool, size, qd int) {
	path := filepath.Join(b.TempDir(), "lun.img")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	// Written once, so that reads and writes hit the page cache, not holes.
	chunk := make([]byte, 1<<20)
	for off := 0; off < benchLUNSize; off += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	cfg := baseConfig(b)
	cfg.Targets[0].Luns = []*pb.Lun{{Id: 0, Path: path, SizeBytes: benchLUNSize}}
	svc := start(b, cfg, nil)
	raw, err := initiator.DialRaw(svc.Addrs()[0], initiator.Options{
		InitiatorName: initiatorName, TargetName: targetName, Timeout: 10 * time.Second,
		FirstBurstLength: 256 << 10, MaxBurstLength: 256 << 10,
	})
	if err != nil {
		b.Fatalf("login: %v", err)
	}
	defer raw.Conn.Close()
	if write && (size > int(raw.Params.MaxXmitDataSegmentLength) || size > int(raw.Params.FirstBurstLength)) {
		b.Fatalf("%d-byte immediate data exceeds the negotiated limits %+v", size, raw.Params)
	}
	pl, err := raw.NewPipeline(initiator.PipelineConfig{LUN: 0, BlockSize: blockSize, Blocks: benchLUNSize / blockSize,
		Size: size, Write: write, Depth: qd})
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: the first command of a new nexus may report a unit attention, and the
	// buffer pools fill.
	if err := pl.Run(2000, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	if err := pl.Run(b.N, true); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
