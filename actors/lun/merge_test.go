package lun

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
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

// lunHarness runs one LUN actor over a backend with a stand-in connection that
// collects the answers.
type lunHarness struct {
	t    *testing.T
	sys  *actor.ActorSystem
	lun  *actor.PID
	conn *actor.PID
	done chan *pb.ScsiCompletion
	tmfs chan *pb.TaskManagementDone
}

func newLUNHarness(t *testing.T, b backend.Backend, opts ...func(*Config)) *lunHarness {
	h := &lunHarness{t: t, done: make(chan *pb.ScsiCompletion, 256), tmfs: make(chan *pb.TaskManagementDone, 16)}
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t", LUN: 0})
	h.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	h.conn = h.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *pb.ScsiCompletion:
			h.done <- m
		case *pb.TaskManagementDone:
			h.tmfs <- m
		}
	}))
	cfg := Config{Target: "t", Device: dev, Backend: b, Workers: 2, Log: hclog.NewNullLogger()}
	for _, o := range opts {
		o(&cfg)
	}
	h.lun = h.sys.Root.Spawn(Props(cfg))
	// The new nexus's unit attention first.
	h.send(h.task(999, make([]byte, 6), nil))
	h.wait(1)
	return h
}

func (h *lunHarness) task(itt uint32, cdb, data []byte) *pb.ScsiTask {
	return &pb.ScsiTask{Itt: itt, Cdb: cdb, DataOut: data, ExpectedLength: uint32(len(data)), Write: len(data) > 0,
		Nexus: "n1", Target: "t", ReplyTo: pb.NewPid(h.conn)}
}

func (h *lunHarness) send(t *pb.ScsiTask) { h.sys.Root.Send(h.lun, t) }

func (h *lunHarness) wait(n int) map[uint32]*pb.ScsiCompletion {
	got := map[uint32]*pb.ScsiCompletion{}
	for len(got) < n {
		select {
		case m := <-h.done:
			got[m.Itt] = m
		case <-time.After(5 * time.Second):
			h.t.Fatalf("%d of %d tasks answered", len(got), n)
		}
	}
	return got
}

// burst sends tasks while the LUN's mailbox is held, so that they wait in it
// together, as under load.
func (h *lunHarness) burst(tasks ...*pb.ScsiTask) {
	proc, ok := h.sys.ProcessRegistry.Get(h.lun)
	if !ok {
		h.t.Fatal("LUN actor not registered")
	}
	proc.SendSystemMessage(h.lun, &actor.SuspendMailbox{})
	for _, t := range tasks {
		h.send(t)
	}
	proc.SendSystemMessage(h.lun, &actor.ResumeMailbox{})
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
	h := newLUNHarness(t, rec)
	type w struct {
		lba uint32
		fua bool
	}
	plan := []w{{0, false}, {8, false}, {16, false}, {24, false}, // run 1
		{32, true},                            // FUA: alone
		{40, false}, {48, false}, {56, false}, // run 2
		{1000, false}, {1008, false}} // run 3 (a jump)
	want := make([]byte, 1<<20)
	var tasks []*pb.ScsiTask
	for i, s := range plan {
		data := bytes.Repeat([]byte{byte(i + 1)}, 4096)
		copy(want[int(s.lba)*512:], data)
		tasks = append(tasks, h.task(uint32(i), write10(s.lba, 8, s.fua), data))
	}
	h.burst(tasks...)
	for itt, m := range h.wait(len(plan)) {
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
	reads := []uint32{0, 8, 16, 24, 32, 40, 48, 56, 1000}
	tasks = nil
	for i, lba := range reads {
		tk := h.task(uint32(100+i), read10(lba, 8), nil)
		tk.Read, tk.ExpectedLength = true, 4096
		tasks = append(tasks, tk)
	}
	h.burst(tasks...)
	for itt, m := range h.wait(len(reads)) {
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

// panicky panics in its first WriteVec calls, as a bug in the IO path would.
type panicky struct {
	backend.Backend
	panics atomic.Int32
}

func (p *panicky) WriteVec(bufs [][]byte, off int64) error {
	if p.panics.Add(-1) >= 0 {
		panic("injected failure in a merged write")
	}
	return p.Backend.(backend.VectorWriter).WriteVec(bufs, off)
}

// TestMergedWritePanic: a worker that panics once on a merged run is restarted and the
// whole run retried, so every part is answered GOOD; one that panics on the retry too
// has every part answered CHECK CONDITION (HARDWARE ERROR, INTERNAL TARGET FAILURE).
// Either way the LUN's counts of tasks and untracked writes come back to zero: an
// ORDERED task (which waits for every task before it) and a COMPARE AND WRITE (which
// waits for every untracked write) still run, and so do the next merged writes.
func TestMergedWritePanic(t *testing.T) {
	f, err := backend.Open(backend.Options{Path: filepath.Join(t.TempDir(), "lun.img"), Size: 1 << 20, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pb1 := &panicky{Backend: f}
	h := newLUNHarness(t, pb1)
	run := func(first uint32, fill byte) {
		var tasks []*pb.ScsiTask
		for i := 0; i < 4; i++ {
			tasks = append(tasks, h.task(first+uint32(i), write10(uint32(8*i), 8, false), bytes.Repeat([]byte{fill}, 4096)))
		}
		h.burst(tasks...)
	}
	pb1.panics.Store(1)
	run(0, 1)
	for itt, m := range h.wait(4) {
		if m.Status != uint32(scsi.StatusGood) {
			t.Fatalf("task %d of a run retried after a panic: status %#x sense %x, want GOOD", itt, m.Status, m.Sense)
		}
	}
	pb1.panics.Store(2)
	run(30, 1)
	for itt, m := range h.wait(4) {
		k, asc, _ := senseOf(m.Sense)
		if m.Status != uint32(scsi.StatusCheckCondition) || k != 0x4 || asc != 0x44 {
			t.Fatalf("task %d: status %#x sense key %#x asc %#x, want CHECK CONDITION 4/44", itt, m.Status, k, asc)
		}
	}
	ordered := h.task(10, write10(64, 8, false), bytes.Repeat([]byte{2}, 4096))
	ordered.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
	h.send(ordered)
	if m := h.wait(1)[10]; m == nil || m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("ORDERED write after the panic: %+v", m)
	}
	caw := make([]byte, 16)
	caw[0] = 0x89 // COMPARE AND WRITE, 1 block at LBA 64
	binary.BigEndian.PutUint64(caw[2:], 64)
	caw[13] = 1
	data := append(bytes.Repeat([]byte{2}, 512), bytes.Repeat([]byte{3}, 512)...)
	h.send(h.task(11, caw, data))
	if m := h.wait(1)[11]; m == nil || m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("COMPARE AND WRITE after the panic: %+v", m)
	}
	var tasks []*pb.ScsiTask
	for i := 0; i < 4; i++ {
		tasks = append(tasks, h.task(uint32(20+i), write10(uint32(8*i), 8, false), bytes.Repeat([]byte{byte(5 + i)}, 4096)))
	}
	h.burst(tasks...)
	for itt, m := range h.wait(4) {
		if m.Status != uint32(scsi.StatusGood) {
			t.Fatalf("task %d after the restart: status %#x", itt, m.Status)
		}
	}
	got := make([]byte, 4096)
	if _, err := f.ReadAt(got, 3*4096); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{8}, 4096)) {
		t.Fatalf("data of the last merged run not on the backend (err %v)", err)
	}
}

// senseOf returns the sense key and ASC of fixed-format sense data.
func senseOf(s []byte) (key, asc, ascq byte) {
	if len(s) < 14 {
		return 0, 0, 0
	}
	return s[2] & 0xf, s[12], s[13]
}
