package lun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The NAA designators of the two logical units of the copy tests.
const (
	naaA = 0x6001405000000a01
	naaB = 0x6001405000000b02
)

// copyPair runs two LUN actors of one target, A and B, in one actor system, with
// one stand-in connection for both (tasks of A and B use distinct tags).
func copyPair(t *testing.T, ba, bb backend.Backend, optB ...func(*Config)) (a, b *lunHarness) {
	return copyPairWith(t, ba, bb, nil, optB)
}

// copyPairWith is copyPair with options for A too.
func copyPairWith(t *testing.T, ba, bb backend.Backend, optA, optB []func(*Config)) (a, b *lunHarness) {
	done, tmfs := make(chan *pb.ScsiCompletion, 256), make(chan *pb.TaskManagementDone, 16)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	conn := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *pb.ScsiCompletion:
			done <- m
		case *pb.TaskManagementDone:
			tmfs <- m
		}
	}))
	t.Cleanup(sys.Shutdown)
	peers := NewRegistry()
	targets := func(naa uint64) (scsidev.CopyTarget, bool) {
		switch naa {
		case naaA:
			return scsidev.CopyTarget{BlockSize: 512, Blocks: uint64(ba.Size()) / 512}, true
		case naaB:
			return scsidev.CopyTarget{BlockSize: 512, Blocks: uint64(bb.Size()) / 512}, true
		}
		return scsidev.CopyTarget{}, false
	}
	spawn := func(id, naa uint64, be backend.Backend, opts []func(*Config)) *lunHarness {
		dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: uint64(be.Size()) / 512, WriteCache: true, TargetName: "t",
			LUN: id, NAA: naa, CopyTargets: targets})
		cfg := Config{Target: "t", ID: id, Device: dev, Backend: be, Workers: 2, Reservations: reservation.New(),
			Peers: peers, Log: hclog.NewNullLogger()}
		for _, o := range opts {
			o(&cfg)
		}
		h := &lunHarness{t: t, sys: sys, conn: conn, done: done, tmfs: tmfs, lun: sys.Root.Spawn(Props(cfg))}
		// The power-on unit attention of both nexuses first.
		for i, n := range []string{"n1", "n2"} {
			tur := h.task(900+uint32(i), make([]byte, 6), nil)
			tur.Nexus = n
			h.send(tur)
			h.wait(1)
		}
		return h
	}
	a = spawn(0, naaA, ba, optA)
	b = spawn(1, naaB, bb, optB)
	for peers.Lookup(naaA) == nil || peers.Lookup(naaB) == nil {
		time.Sleep(time.Millisecond)
	}
	return a, b
}

// xcopyTask is an EXTENDED COPY (LID1) of nexus n1 with the two target
// descriptors A (index 0) and B (index 1) and the given segments.
func xcopyTask(h *lunHarness, itt uint32, segs ...[]byte) *pb.ScsiTask {
	ident := func(naa uint64) []byte {
		d := make([]byte, 32)
		d[0] = 0xE4
		d[4], d[5], d[7] = 0x01, 0x03, 8 // binary, LU, NAA; 8 bytes
		binary.BigEndian.PutUint64(d[8:16], naa)
		d[30] = 0x02 // 512-byte blocks
		return d
	}
	p := make([]byte, 16)
	p[1] = 3 << 3 // no list identifier
	binary.BigEndian.PutUint16(p[2:4], 64)
	binary.BigEndian.PutUint32(p[8:12], uint32(28*len(segs)))
	p = append(append(p, ident(naaA)...), ident(naaB)...)
	for _, s := range segs {
		p = append(p, s...)
	}
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpExtendedCopy
	binary.BigEndian.PutUint32(cdb[10:14], uint32(len(p)))
	return h.task(itt, cdb, p)
}

// seg is a block-to-block segment descriptor between target descriptors.
func seg(src, dst uint16, blocks uint16, srcLBA, dstLBA uint64) []byte {
	d := make([]byte, 28)
	d[0] = 0x02
	binary.BigEndian.PutUint16(d[2:4], 24)
	binary.BigEndian.PutUint16(d[4:6], src)
	binary.BigEndian.PutUint16(d[6:8], dst)
	binary.BigEndian.PutUint16(d[10:12], blocks)
	binary.BigEndian.PutUint64(d[12:20], srcLBA)
	binary.BigEndian.PutUint64(d[20:28], dstLBA)
	return d
}

// reserve registers key for nexus n2 at h and reserves the LU with type typ.
func reserve(h *lunHarness, typ uint8) {
	h.t.Helper()
	for i, sa := range []uint8{reservation.SARegister, reservation.SAReserve} {
		key, saKey := uint64(0), uint64(0x77)
		if sa == reservation.SAReserve {
			key = 0x77
		}
		pt := proutTask(h, 800+uint32(i), sa, typ, key, saKey)
		pt.Nexus = "n2"
		h.send(pt)
		if c := h.wait(1)[800+uint32(i)]; c == nil || c.Status != uint32(scsi.StatusGood) {
			h.t.Fatalf("PERSISTENT RESERVE OUT %d answered %+v", sa, c)
		}
	}
}

// Persistent reservation types (SPC-4 table 169).
const (
	prWriteExclusive  = 1
	prExclusiveAccess = 3
)

func fill(t *testing.T, b backend.Backend, off int64, n int, v byte) []byte {
	t.Helper()
	p := bytes.Repeat([]byte{v}, n)
	if err := b.WriteAt(p, off, false); err != nil {
		t.Fatal(err)
	}
	return p
}

func readBack(t *testing.T, b backend.Backend, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := b.ReadAt(p, off); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantCopyAborted checks c is CHECK CONDITION, COPY ABORTED with asc/ascq.
func wantCopyAborted(t *testing.T, c *pb.ScsiCompletion, asc, ascq uint8) {
	t.Helper()
	if c == nil || c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("EXTENDED COPY answered %+v, want CHECK CONDITION", c)
	}
	if k, a, q, ok := scsi.ParseFixedSense(c.Sense); !ok || k != scsi.SenseCopyAborted || a != asc || q != ascq {
		t.Fatalf("sense %x, want COPY ABORTED %02x/%02x", c.Sense, asc, ascq)
	}
}

// fillRand writes n bytes of a pattern that differs in every block at off.
func fillRand(t *testing.T, b backend.Backend, off int64, n int, seed byte) []byte {
	t.Helper()
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i/512) ^ byte(i) ^ seed
	}
	if err := b.WriteAt(p, off, false); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCopyAcrossLUs: a copy received by A moves data from A to B (a segment of
// more than one chunk), from B back to A and from B to A in one parameter list, and
// is answered GOOD with every byte in place. The unit attention B holds for the
// copy's nexus is still reported to that nexus's own next command afterwards: the
// copy's commands neither report nor clear it.
func TestCopyAcrossLUs(t *testing.T) {
	ma, mb := backend.NewMemory(4<<20), backend.NewMemory(4<<20)
	a, b := copyPair(t, ma, mb)
	srcA := fillRand(t, ma, 0, 3072*512, 0xA1)
	srcB := fillRand(t, mb, 6000*512, 64<<10, 0xB2)
	b.sys.Root.Send(b.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, ReplyTo: pb.NewPid(b.conn)})
	<-b.tmfs
	a.send(xcopyTask(a, 1,
		seg(0, 1, 3072, 0, 2048),   // A LBA 0.. to B LBA 2048.. (1.5 MiB)
		seg(1, 0, 128, 2048, 4096), // what was just copied to B, back to A LBA 4096..
		seg(1, 0, 128, 6000, 5000), // B's own data to A LBA 5000..
	))
	if c := a.wait(1)[1]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("EXTENDED COPY answered %+v, want GOOD", c)
	}
	if got := readBack(t, mb, 2048*512, len(srcA)); !bytes.Equal(got, srcA) {
		t.Fatal("B does not hold A's data")
	}
	if got := readBack(t, ma, 4096*512, 64<<10); !bytes.Equal(got, srcA[:64<<10]) {
		t.Fatal("A does not hold the data copied back from B")
	}
	if got := readBack(t, ma, 5000*512, 64<<10); !bytes.Equal(got, srcB) {
		t.Fatal("A does not hold B's data")
	}
	b.send(b.task(3, make([]byte, 6), nil)) // TEST UNIT READY of n1 at B
	c := b.wait(1)[3]
	if k, asc, _, ok := scsi.ParseFixedSense(c.Sense); c.Status != uint32(scsi.StatusCheckCondition) || !ok ||
		k != scsi.SenseUnitAttention || asc != 0x29 {
		t.Fatalf("TEST UNIT READY after the copy answered %+v, want the reset's UNIT ATTENTION", c)
	}
}

// TestCopyToReservedLU: B is reserved WRITE EXCLUSIVE by another nexus. An EXTENDED
// COPY sent to A (not reserved) that writes B is refused as B refuses that nexus's
// WRITE, COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE, and B's medium is
// unchanged. Found by a review: the copy used to write B's backend directly.
func TestCopyToReservedLU(t *testing.T) {
	ma, mb := backend.NewMemory(1<<20), backend.NewMemory(1<<20)
	a, b := copyPair(t, ma, mb)
	fill(t, ma, 0, 64<<10, 0xA1)
	was := fill(t, mb, 0, 64<<10, 0xB2)
	reserve(b, prWriteExclusive)
	a.send(xcopyTask(a, 1, seg(0, 1, 128, 0, 0)))
	wantCopyAborted(t, a.wait(1)[1], 0x0D, 0x02)
	if got := readBack(t, mb, 0, 64<<10); !bytes.Equal(got, was) {
		t.Fatal("the copy wrote a LU reserved WRITE EXCLUSIVE by another nexus")
	}
	// A copy from B (WRITE EXCLUSIVE lets others read) to A still runs.
	a.send(xcopyTask(a, 2, seg(1, 0, 128, 0, 0)))
	if c := a.wait(1)[2]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("copy from a WRITE EXCLUSIVE LU answered %+v, want GOOD", c)
	}
	if got := readBack(t, ma, 0, 64<<10); !bytes.Equal(got, was) {
		t.Fatal("A does not hold B's data")
	}
}

// TestCopyFromReservedLU: B is reserved EXCLUSIVE ACCESS by another nexus, which
// keeps every other nexus from reading it: a copy from B to A sent to A is refused
// and A's medium is unchanged.
func TestCopyFromReservedLU(t *testing.T) {
	ma, mb := backend.NewMemory(1<<20), backend.NewMemory(1<<20)
	a, b := copyPair(t, ma, mb)
	was := fill(t, ma, 0, 64<<10, 0xA1)
	fill(t, mb, 0, 64<<10, 0xB2)
	reserve(b, prExclusiveAccess)
	a.send(xcopyTask(a, 1, seg(1, 0, 128, 0, 0)))
	wantCopyAborted(t, a.wait(1)[1], 0x0D, 0x02)
	if got := readBack(t, ma, 0, 64<<10); !bytes.Equal(got, was) {
		t.Fatal("the copy read a LU reserved EXCLUSIVE ACCESS by another nexus")
	}
}

// TestCopyWaitsForFence: a WRITE to B is abandoned after B's ioTimeout and its range
// fenced until the call returns. A copy received by A that writes an overlapping
// range of B is held back by B's fence like any WRITE: it is answered only after the
// abandoned call landed, and B then holds the late call's data only where the copy
// did not write. Found by a review: the copy used to write B's backend directly,
// where the late call could overwrite what the copy had been acknowledged for.
func TestCopyWaitsForFence(t *testing.T) {
	ma, hb := backend.NewMemory(1<<20), newHoldBackend(t)
	a, b := copyPair(t, ma, hb, func(c *Config) { c.Workers, c.IOTimeout = 2, 200*time.Millisecond })
	src := fillRand(t, ma, 0, 4096, 0xA1)
	release := hb.hold("write", 0)
	b.send(b.task(1, write10(0, 8, false), bytes.Repeat([]byte{0x11}, 4096)))
	hb.waitHeld(t, "write@0")
	if c := b.wait(1)[1]; c == nil || c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("the abandoned WRITE was answered %+v, want CHECK CONDITION", c)
	}
	a.send(xcopyTask(a, 2, seg(0, 1, 8, 0, 4))) // B LBA 4..11: overlaps the fence (0..7)
	select {
	case c := <-a.done:
		t.Fatalf("task %d answered (status %#x) while B's fenced call was still in the backend", c.Itt, c.Status)
	case <-time.After(400 * time.Millisecond):
	}
	release()
	if c := a.wait(1)[2]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("EXTENDED COPY answered %+v, want GOOD", c)
	}
	got := readBack(t, hb.Backend, 0, 6144)
	if !bytes.Equal(got[:2048], bytes.Repeat([]byte{0x11}, 2048)) || !bytes.Equal(got[2048:], src) {
		t.Fatalf("B holds %x...%x: want the late call's 11s before LBA 4 and the copied data from it", got[:4], got[2048:2052])
	}
}

// TestCopyOrderedWithSelf: an ORDERED copy that writes both LUs, its own included,
// completes: its commands to A itself do not wait behind the copy.
func TestCopyOrderedWithSelf(t *testing.T) {
	ma, mb := backend.NewMemory(1<<20), backend.NewMemory(1<<20)
	a, _ := copyPair(t, ma, mb)
	src := fill(t, ma, 0, 4096, 0xA1)
	x := xcopyTask(a, 1, seg(0, 1, 8, 0, 0), seg(1, 0, 8, 0, 100))
	x.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
	a.send(x)
	a.send(a.task(2, write10(200, 8, false), bytes.Repeat([]byte{0x22}, 4096))) // behind the ORDERED copy
	got := a.wait(2)
	if c := got[1]; c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("ORDERED copy answered %+v, want GOOD", c)
	}
	if c := got[2]; c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("WRITE after it answered %+v, want GOOD", c)
	}
	if got := readBack(t, ma, 100*512, 4096); !bytes.Equal(got, src) {
		t.Fatal("A does not hold the data copied through B")
	}
}

// TestCopyAbortStops: ABORT TASK for a copy whose command is held in B's backend
// stops it: the function is answered, the copy ends, and no further segment is
// issued once the held command returns.
func TestCopyAbortStops(t *testing.T) {
	ma, hb := backend.NewMemory(1<<20), newHoldBackend(t)
	a, _ := copyPair(t, ma, hb)
	fill(t, ma, 0, 8192, 0xA1)
	release := hb.hold("write", 0)
	defer hb.hold("write", 64*512)() // the second segment's write, if issued
	a.send(xcopyTask(a, 1, seg(0, 1, 8, 0, 0), seg(0, 1, 8, 8, 64)))
	hb.waitHeld(t, "write@0")
	a.sys.Root.Send(a.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, ReferencedItt: 1,
		Nexus: "n1", ReplyTo: pb.NewPid(a.conn)})
	select {
	case <-a.tmfs:
	case <-time.After(5 * time.Second):
		t.Fatal("ABORT TASK not answered")
	}
	release()
	if c := a.wait(1)[1]; c == nil || c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("aborted copy answered %+v, want CHECK CONDITION (suppressed by the connection)", c)
	}
	hb.noneHeld(t, 300*time.Millisecond, "the aborted copy issued its second segment")
	if got := readBack(t, hb.Backend, 64*512, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatal("the aborted copy wrote its second segment")
	}
}

// TestCopyToWriteProtectedLU: B is write protected by its own state (here its device
// model; MODE SELECT's SWP acts the same), which the copy descriptors' view of the
// target does not show: a copy to B sent to A is refused by B, COPY ABORTED, WRITE
// PROTECTED, and B keeps its data.
func TestCopyToWriteProtectedLU(t *testing.T) {
	ma, mb := backend.NewMemory(1<<20), backend.NewMemory(1<<20)
	a, _ := copyPair(t, ma, mb, func(c *Config) {
		c.Device = scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, TargetName: "t", LUN: 1, NAA: naaB, ReadOnly: true})
	})
	fill(t, ma, 0, 4096, 0xA1)
	was := fill(t, mb, 0, 4096, 0xB2)
	a.send(xcopyTask(a, 1, seg(0, 1, 8, 0, 0)))
	wantCopyAborted(t, a.wait(1)[1], 0x27, 0x00)
	if got := readBack(t, mb, 0, 4096); !bytes.Equal(got, was) {
		t.Fatal("the copy wrote a write-protected LU")
	}
}

// TestCopyToRetiredLU: B was taken out of service (Retire, as an administrator's
// removal does before the LUN actor stops): a copy to it sent to A is refused, COPY
// TARGET DEVICE NOT REACHABLE, and B's medium, still open, is unchanged.
func TestCopyToRetiredLU(t *testing.T) {
	ma, mb := backend.NewMemory(1<<20), backend.NewMemory(1<<20)
	a, b := copyPair(t, ma, mb)
	fill(t, ma, 0, 4096, 0xA1)
	was := fill(t, mb, 0, 4096, 0xB2)
	retired := make(chan RetireResult, 1)
	b.sys.Root.Send(b.lun, &Retire{Done: func(r RetireResult) { retired <- r }})
	if r := <-retired; r.Refused {
		t.Fatalf("Retire refused: %+v", r)
	}
	a.send(xcopyTask(a, 1, seg(0, 1, 8, 0, 0)))
	wantCopyAborted(t, a.wait(1)[1], 0x0D, 0x02)
	if got := readBack(t, mb, 0, 4096); !bytes.Equal(got, was) {
		t.Fatal("the copy wrote a retired LU")
	}
}

// TestCopyRun: the copy manager's state machine reads a chunk, then writes it, in
// each LU's own blocks (here 512 and 4096 bytes), at most copyChunk at a time; an
// answer other than GOOD ends the copy with the sense SPC-4 6.4.3 asks for.
func TestCopyRun(t *testing.T) {
	good := func(n int64) *pb.ScsiCompletion {
		return &pb.ScsiCompletion{Status: uint32(scsi.StatusGood), DataIn: make([]byte, n)}
	}
	r := copyRun{segs: []*pb.CopySegment{{SrcNaa: 1, DstNaa: 2, SrcOffset: 4096, DstOffset: 8192,
		Length: copyChunk + 8192, SrcBlockSize: 512, DstBlockSize: 4096}}}
	want := []copyStep{
		{naa: 1, lba: 8, blocks: copyChunk / 512, length: copyChunk},
		{naa: 2, write: true, lba: 2, blocks: copyChunk / 4096, length: copyChunk},
		{naa: 1, lba: 8 + copyChunk/512, blocks: 16, length: 8192},
		{naa: 2, write: true, lba: 2 + copyChunk/4096, blocks: 2, length: 8192},
	}
	for i, w := range want {
		st, ok := r.next()
		if !ok || st != w {
			t.Fatalf("step %d: %+v (more %v), want %+v", i, st, ok, w)
		}
		if err := r.answer(good(st.length)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if st, ok := r.next(); ok {
		t.Fatalf("a step after the last: %+v", st)
	}

	sense := func(e *scsi.SenseError) *pb.ScsiCompletion { return pb.CheckCondition(0, e) }
	for _, tc := range []struct {
		name      string
		write     bool
		answer    *pb.ScsiCompletion
		asc, ascq uint8
	}{
		{"read refused by a reservation", false, &pb.ScsiCompletion{Status: uint32(scsi.StatusReservationConflict)}, 0x0D, 0x02},
		{"write refused by a reservation", true, &pb.ScsiCompletion{Status: uint32(scsi.StatusReservationConflict)}, 0x0D, 0x02},
		{"short read", false, good(512), 0x0D, 0x04},
		{"read medium error", false, sense(scsi.MediumError(0x11, 0)), 0x11, 0x00},
		{"write medium error", true, sense(scsi.MediumError(0x0C, 0)), 0x0C, 0x00},
		{"write protected", true, sense(scsi.WriteProtected()), 0x27, 0x00},
		{"not ready", true, sense(scsi.LogicalUnitFailure()), 0x0D, 0x02},
		// The store's error table keeps its cause (README "IO errors").
		{"write to a full thin LU", true, sense(scsi.SpaceAllocationFailed()), 0x27, 0x07},
		{"read of a vanished device", false, sense(scsi.NotReadyManualIntervention()), 0x04, 0x03},
		{"write timed out in the cluster", true, sense(scsi.CommunicationTimeout()), 0x08, 0x01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := copyRun{segs: []*pb.CopySegment{{SrcNaa: 1, DstNaa: 2, Length: 4096, SrcBlockSize: 512, DstBlockSize: 512}}}
			r.next()
			if tc.write {
				if err := r.answer(good(4096)); err != nil {
					t.Fatal(err)
				}
				r.next()
			}
			err := r.answer(tc.answer)
			var se *scsi.SenseError
			if !errors.As(err, &se) || se.Key != scsi.SenseCopyAborted || se.ASC != tc.asc || se.ASCQ != tc.ascq {
				t.Fatalf("%v, want COPY ABORTED %02x/%02x", err, tc.asc, tc.ascq)
			}
		})
	}
}

// TestCopyLUNPanicAtCopierStart: the LUN actor fails as it starts an EXTENDED
// COPY's copier, after the device model planned and counted the copy. The copy is
// answered CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE (it was still
// the LUN's to end, handing.go), and its count is released: an ORDERED task sent
// behind it is answered (with the recovery's unit attention), and a later copy
// completes. Handed on before its copier existed, the copy was never answered and
// the ORDERED task waited for it for ever.
func TestCopyLUNPanicAtCopierStart(t *testing.T) {
	ma, mb := backend.NewMemory(1<<20), backend.NewMemory(1<<20)
	a, _ := copyPair(t, ma, mb)
	src := fill(t, ma, 0, 4096, 0xA1)
	var fired atomic.Int32
	fail := func(io *pb.IoRequest) {
		if io.Kind == pb.IoKind_IO_KIND_COPY && fired.Add(1) == 1 {
			panic("injected: LUN actor failure starting a copier")
		}
	}
	handOffFault.Store(&fail)
	t.Cleanup(func() { handOffFault.Store(nil) })
	a.send(xcopyTask(a, 1, seg(0, 1, 8, 0, 0)))
	w := a.task(2, write10(200, 8, false), bytes.Repeat([]byte{0x22}, 4096))
	w.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
	a.send(w)
	got := a.wait(2)
	expectCheck(t, "copy the LUN failed on", got[1], scsi.SenseHardwareError, 0x44, 0x00)
	// The recovery reports the reset to every initiator (recover.go): the ORDERED
	// WRITE behind the copy is answered, with that unit attention.
	expectCheck(t, "ORDERED WRITE behind it", got[2], scsi.SenseUnitAttention, 0x29, 0x00)
	a.send(a.task(4, write10(200, 8, false), bytes.Repeat([]byte{0x22}, 4096)))
	if c := a.wait(1)[4]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("the WRITE sent again answered %+v, want GOOD", c)
	}
	a.send(xcopyTask(a, 3, seg(0, 1, 8, 0, 0)))
	if c := a.wait(1)[3]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("a later copy answered %+v, want GOOD", c)
	}
	if got := readBack(t, mb, 0, 4096); !bytes.Equal(got, src) {
		t.Fatal("B does not hold the later copy's data")
	}
}
