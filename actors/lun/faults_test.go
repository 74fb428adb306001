package lun

import (
	"testing"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func TestLUNFaults(t *testing.T) {
	inj := faults.New(nil, nil)
	inj.Set([]faults.Fault{
		{Op: faults.Write, Kind: faults.LUNPanic, Probability: 1, Offset: 8192, Length: 512},
		{Op: faults.Sync, Kind: faults.LUNPanic, Probability: 1},
	})
	l := &lunActor{cfg: Config{Faults: inj}}
	tests := []struct {
		name  string
		io    scsidev.IO
		panic bool
	}{
		{"read of the range", scsidev.IO{Kind: pb.IoKind_IO_KIND_READ, Offset: 8192, Length: 512}, false},
		{"write elsewhere", scsidev.IO{Kind: pb.IoKind_IO_KIND_WRITE, Offset: 0, Length: 4096}, false},
		{"write of the range", scsidev.IO{Kind: pb.IoKind_IO_KIND_WRITE, Offset: 4096, Length: 8192}, true},
		{"COMPARE AND WRITE of the range", scsidev.IO{Kind: pb.IoKind_IO_KIND_COMPARE_AND_WRITE, Offset: 8192, Length: 512}, true},
		{"UNMAP of the range", scsidev.IO{Kind: pb.IoKind_IO_KIND_UNMAP,
			Extents: []scsidev.Extent{{Offset: 8192, Length: 512}}}, false},
		{"SYNCHRONIZE CACHE", scsidev.IO{Kind: pb.IoKind_IO_KIND_SYNC, Offset: 8192, Length: 512}, true},
		{"no IO", scsidev.IO{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p any
			func() {
				defer func() { p = recover() }()
				l.lunFaults(&tc.io)
			}()
			if _, ok := p.(*backend.InjectedPanic); ok != tc.panic || (p != nil && !ok) {
				t.Fatalf("panic %v, want one: %v", p, tc.panic)
			}
		})
	}
	// A LUN without faults costs one nil check.
	(&lunActor{}).lunFaults(&scsidev.IO{Kind: pb.IoKind_IO_KIND_WRITE, Offset: 8192, Length: 512})
}
