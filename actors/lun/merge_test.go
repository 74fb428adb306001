package lun

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// vecRecorder records how writes reach the backend.
type vecRecorder struct {
	backend.Backend
	mu      sync.Mutex
	vectors []int // buffers per WriteVec
	singles int   // WriteAt calls
	reads   []int // buffers per ReadVec
}

func (r *vecRecorder) ReadVec(bufs [][]byte, off int64) error {
	r.mu.Lock()
	r.reads = append(r.reads, len(bufs))
	r.mu.Unlock()
	return r.Backend.(backend.VectorReader).ReadVec(bufs, off)
}

func (r *vecRecorder) WriteVec(bufs [][]byte, off int64) error {
	r.mu.Lock()
	r.vectors = append(r.vectors, len(bufs))
	r.mu.Unlock()
	return r.Backend.(backend.VectorWriter).WriteVec(bufs, off)
}

func (r *vecRecorder) WriteAt(p []byte, off int64, stable bool) error {
	r.mu.Lock()
	r.singles++
	r.mu.Unlock()
	return r.Backend.WriteAt(p, off, stable)
}

func read10(lba uint32, blocks uint16) []byte {
	cdb := write10(lba, blocks, false)
	cdb[0] = scsi.OpRead10
	return cdb
}

func write10(lba uint32, blocks uint16, fua bool) []byte {
	cdb := make([]byte, 10)
	cdb[0] = scsi.OpWrite10
	if fua {
		cdb[1] = 0x08
	}
	binary.BigEndian.PutUint32(cdb[2:], lba)
	binary.BigEndian.PutUint16(cdb[7:], blocks)
	return cdb
}

// TestMergedIO: adjacent cached writes that wait in the LUN's mailbox together reach
// the backend as one vectored write per run; a FUA write and a jump in the LBA end a
// run; every task is answered GOOD and the data is where each task put it. Adjacent
// reads likewise become one vectored read, each task getting its own data.
func TestMergedIO(t *testing.T) {
	f, err := backend.Open(backend.Options{Path: filepath.Join(t.TempDir(), "lun.img"), Size: 1 << 20, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := &vecRecorder{Backend: f}
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t", LUN: 0})
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	done := make(chan *pb.ScsiCompletion, 64)
	conn := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*pb.ScsiCompletion); ok {
			done <- m
		}
	}))
	lunPID := sys.Root.Spawn(Props(Config{Target: "t", Device: dev, Backend: rec, Workers: 2, Log: hclog.NewNullLogger()}))
	task := func(itt uint32, cdb, data []byte) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: itt, Cdb: cdb, DataOut: data, ExpectedLength: uint32(len(data)), Write: len(data) > 0,
			Nexus: "n1", Target: "t", ReplyTo: pb.NewPid(conn)}
	}
	wait := func(n int) map[uint32]*pb.ScsiCompletion {
		got := map[uint32]*pb.ScsiCompletion{}
		for len(got) < n {
			select {
			case m := <-done:
				got[m.Itt] = m
			case <-time.After(5 * time.Second):
				t.Fatalf("%d of %d tasks answered", len(got), n)
			}
		}
		return got
	}
	// The new nexus's unit attention first.
	sys.Root.Send(lunPID, task(999, make([]byte, 6), nil))
	wait(1)

	// Hold the mailbox so that the whole burst waits in it, as under load.
	proc, ok := sys.ProcessRegistry.Get(lunPID)
	if !ok {
		t.Fatal("LUN actor not registered")
	}
	proc.SendSystemMessage(lunPID, &actor.SuspendMailbox{})
	type w struct {
		lba uint32
		fua bool
	}
	plan := []w{{0, false}, {8, false}, {16, false}, {24, false}, // run 1
		{32, true},                            // FUA: alone
		{40, false}, {48, false}, {56, false}, // run 2
		{1000, false}, {1008, false}} // run 3 (a jump)
	want := make([]byte, 1<<20)
	for i, s := range plan {
		data := bytes.Repeat([]byte{byte(i + 1)}, 4096)
		copy(want[int(s.lba)*512:], data)
		sys.Root.Send(lunPID, task(uint32(i), write10(s.lba, 8, s.fua), data))
	}
	proc.SendSystemMessage(lunPID, &actor.ResumeMailbox{})
	for itt, m := range wait(len(plan)) {
		if m.Status != uint32(scsi.StatusGood) {
			t.Fatalf("task %d: status %#x sense %x", itt, m.Status, m.Sense)
		}
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("data on the backend differs from what the tasks wrote")
	}
	rec.mu.Lock()
	slices.Sort(rec.vectors) // two workers: any order
	if !slices.Equal(rec.vectors, []int{2, 3, 4}) || rec.singles != 1 {
		t.Fatalf("vectored writes %v and %d single writes; want [2 3 4] and 1 (the FUA write)", rec.vectors, rec.singles)
	}
	rec.mu.Unlock()

	// Reads: LBAs 0..63 in 8 adjacent commands, then a jump to 1000.
	proc.SendSystemMessage(lunPID, &actor.SuspendMailbox{})
	reads := []uint32{0, 8, 16, 24, 32, 40, 48, 56, 1000}
	for i, lba := range reads {
		tk := task(uint32(100+i), read10(lba, 8), nil)
		tk.Read, tk.ExpectedLength = true, 4096
		sys.Root.Send(lunPID, tk)
	}
	proc.SendSystemMessage(lunPID, &actor.ResumeMailbox{})
	for itt, m := range wait(len(reads)) {
		lba := reads[itt-100]
		if m.Status != uint32(scsi.StatusGood) || !bytes.Equal(m.DataIn, want[lba*512:lba*512+4096]) {
			t.Fatalf("read of LBA %d: status %#x, data right %v", lba, m.Status, bytes.Equal(m.DataIn, want[lba*512:lba*512+4096]))
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reads) != 1 || rec.reads[0] != 8 {
		t.Fatalf("vectored reads %v; want [8] (and the jump read alone)", rec.reads)
	}
}
