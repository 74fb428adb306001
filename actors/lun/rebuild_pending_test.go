package lun

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The tests of a LUN actor that fails (recover.go) while the device model waits
// for the outcome of IO still in flight: the rebuilt device model must go on
// waiting for that IO, and for it alone (found by a review: the rebuilt device
// started its tokens from 1 again with an empty pending table).

// rebuilding returns the options of a LUN over devCfg whose actor fails on the
// command after failNext, and which rebuilds its device model from devCfg as
// atgtd's lun.Config.Rebuild does; rebuild false keeps the device model.
func rebuilding(devCfg scsidev.Config, rebuild bool) (opts func(*Config), failNext func(faults.Op)) {
	inj := faults.New(nil, nil)
	opts = func(c *Config) {
		c.Device, c.Faults = scsidev.New(devCfg), inj
		if rebuild {
			c.Rebuild = func() (*scsidev.Device, *reservation.Table, error) {
				return scsidev.New(devCfg), reservation.New(), nil
			}
		}
	}
	failNext = func(op faults.Op) {
		inj.Set([]faults.Fault{{Op: op, Kind: faults.LUNPanic, Probability: 1, Count: 1}})
	}
	return opts, failNext
}

// failActor has h's LUN actor fail on an INQUIRY (allowed while a SANITIZE runs,
// SBC-4 4.11), answered CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE.
func failActor(t *testing.T, h *lunHarness, failNext func(faults.Op), itt uint32) {
	t.Helper()
	failNext(faults.Any)
	inq := h.task(itt, []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil)
	inq.Read, inq.ExpectedLength = true, 36
	h.send(inq)
	expectCheck(t, "INQUIRY the LUN actor failed on", h.wait(1)[itt], scsi.SenseHardwareError, 0x44, 0x00)
}

// untilNoUA sends tasks made by mk until one is answered with something other
// than a UNIT ATTENTION (the recovery's POWER ON, RESET 29/00), and returns it.
func untilNoUA(t *testing.T, h *lunHarness, itt uint32, mk func(itt uint32) *pb.ScsiTask) *pb.ScsiCompletion {
	t.Helper()
	for range 4 {
		h.send(mk(itt))
		c := h.wait(1)[itt]
		if key, _, _ := senseOf(c.Sense); c.Status != uint32(scsi.StatusCheckCondition) || key != scsi.SenseUnitAttention {
			return c
		}
		itt++
	}
	t.Fatal("unit attentions do not end")
	return nil
}

// tur is a TEST UNIT READY of nexus n1.
func tur(h *lunHarness) func(uint32) *pb.ScsiTask {
	return func(itt uint32) *pb.ScsiTask { return h.task(itt, make([]byte, 6), nil) }
}

// sanitizeOverwrite is a SANITIZE OVERWRITE of one pass of 0xEE, with IMMED.
func sanitizeOverwrite(h *lunHarness, itt uint32, immed bool) *pb.ScsiTask {
	pattern := []byte{1, 0, 0, 4, 0xEE, 0xEE, 0xEE, 0xEE}
	cdb := make([]byte, 10)
	cdb[0], cdb[1] = scsi.OpSanitize, scsi.SASanitizeOverwrite
	if immed {
		cdb[1] |= 0x80
	}
	binary.BigEndian.PutUint16(cdb[7:9], uint16(len(pattern)))
	return h.task(itt, cdb, pattern)
}

// sanitizeCfg is a LU of 1 MiB that allows SANITIZE: its overwrite is one call.
var sanitizeCfg = scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t", AllowSanitize: true}

// TestRebuildKeepsSanitize: a SANITIZE OVERWRITE (IMMED) is in the backend when
// the LUN actor fails and rebuilds its device model. The overwrite goes on, so the
// LU stays NOT READY, SANITIZE IN PROGRESS (SBC-4 4.11.1: only INQUIRY, REPORT
// LUNS and REQUEST SENSE are processed meanwhile; a power on, hard reset or logical
// unit reset suspends the sanitize and it resumes after), and once it ends the LU
// is ready, or, if it failed, in the sanitize failure mode: medium access commands
// end in MEDIUM ERROR, SANITIZE COMMAND FAILED (SBC-4 4.11.3, 5.30). Before the
// fix the rebuilt device forgot the sanitize: TEST UNIT READY answered GOOD while
// the overwrite ran (an initiator polling for its end takes it as done), a READ
// was served while the overwrite was still writing, and a failed overwrite left a
// half-written medium that READ served as good data.
func TestRebuildKeepsSanitize(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "overwrite ends GOOD", true: "overwrite fails"}[fail]
		t.Run(name, func(t *testing.T) {
			hb := newHoldBackend(t)
			if fail {
				hb.Backend = failAt{Backend: backend.NewMemory(1 << 20), at: 0, err: syscall.EIO}
			}
			opts, failNext := rebuilding(sanitizeCfg, true)
			h := newLUNHarness(t, hb, opts)
			defer h.sys.Shutdown()
			release := hb.hold("write", 0)
			h.send(sanitizeOverwrite(h, 1, true))
			expectGood(t, "SANITIZE with IMMED", h.wait(1)[1])
			hb.waitHeld(t, "write@0")
			failActor(t, h, failNext, 2)
			// NOT READY comes ahead of the recovery's unit attention (SBC-4 4.11.1).
			h.send(h.task(3, make([]byte, 6), nil))
			if c := h.wait(1)[3]; c.Status != uint32(scsi.StatusCheckCondition) || !bytes.Equal(sense3(c), []byte{2, 0x04, 0x1B}) {
				t.Errorf("TEST UNIT READY while the overwrite is in the backend: status %#x sense %x, "+
					"want CHECK CONDITION, NOT READY, SANITIZE IN PROGRESS (2/04/1B)", c.Status, sense3(c))
			}
			release()
			deadline := time.Now().Add(5 * time.Second)
			itt := uint32(10)
			for {
				c := untilNoUA(t, h, itt, func(itt uint32) *pb.ScsiTask { return h.read(itt, 0) })
				itt += 10
				if k, asc, ascq := senseOf(c.Sense); c.Status == uint32(scsi.StatusCheckCondition) &&
					k == scsi.SenseNotReady && asc == 0x04 && ascq == 0x1B {
					if time.Now().After(deadline) {
						t.Fatal("still SANITIZE IN PROGRESS 5 s after the overwrite's call returned")
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if fail {
					expectCheck(t, "READ after the overwrite failed", c, scsi.SenseMediumError, 0x31, 0x03)
				} else if expectGood(t, "READ after the overwrite", c); !bytes.Equal(c.DataIn, bytes.Repeat([]byte{0xEE}, 4096)) {
					t.Fatalf("READ after the overwrite: %x..., want the pattern", c.DataIn[:8])
				}
				return
			}
		})
	}
}

// sense3 is the sense key, ASC and ASCQ of c.
func sense3(c *pb.ScsiCompletion) []byte {
	k, a, q := senseOf(c.Sense)
	return []byte{k, a, q}
}

// copyStatusOf sends RECEIVE COPY STATUS(LID1) for list identifier id and returns
// its answer.
func copyStatusOf(h *lunHarness, itt uint32, id byte) *pb.ScsiCompletion {
	cdb := make([]byte, 16)
	cdb[0], cdb[1], cdb[2] = scsi.OpReceiveCopyResults, scsi.SACopyStatusLID1, id
	binary.BigEndian.PutUint32(cdb[10:14], 12)
	h.send(h.task(itt, cdb, nil))
	return h.wait(1)[itt]
}

// wantCopyStatus checks a RECEIVE COPY STATUS(LID1) answer (SPC-4 6.18.3): COPY
// MANAGER STATUS (00h in progress, 01h completed without errors), SEGMENTS
// PROCESSED and the TRANSFER COUNT in bytes.
func wantCopyStatus(t *testing.T, what string, c *pb.ScsiCompletion, status byte, segs uint16, count uint64) {
	t.Helper()
	if c == nil || c.Status != uint32(scsi.StatusGood) || len(c.DataIn) < 12 {
		k, a, q := senseOf(c.Sense)
		t.Errorf("%s: status %#x sense %x/%02x/%02x, want GOOD and COPY MANAGER STATUS %02xh", what, c.Status, k, a, q, status)
		return
	}
	d := c.DataIn
	gs, gn, gc := d[4]&0x7F, binary.BigEndian.Uint16(d[5:7]), uint64(binary.BigEndian.Uint32(d[8:12]))<<(10*uint(d[7]))
	if gs != status || gn != segs || gc != count {
		t.Errorf("%s: COPY MANAGER STATUS %02xh, %d segments processed, %d bytes; want %02xh, %d, %d",
			what, gs, gn, gc, status, segs, count)
	}
}

// TestRebuildTokens: copy X (list identifier 1) of LU A into itself has its write
// held in the backend when A's actor fails and rebuilds its device model; copy Y
// (list identifier 2) starts after the rebuild and has its write held too. When X
// ends, Y is still in progress: RECEIVE COPY STATUS(LID1) of Y reports COPY
// MANAGER STATUS 00h, no segment processed (SPC-4 6.18.3), and X, which ended
// GOOD, reports 01h, its one segment and 4096 bytes. Before the fix the rebuilt
// device gave Y the token X carried (both 1): X's end settled Y, reported GOOD
// with its segment processed while none of it was written (an initiator then reads
// a destination the copy has not written); and X's status was gone (INVALID FIELD
// IN CDB, as for a list identifier never used).
func TestRebuildTokens(t *testing.T) {
	hb := newHoldBackend(t)
	devCfg := scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t", NAA: naaA,
		CopyTargets: func(naa uint64) (scsidev.CopyTarget, bool) {
			return scsidev.CopyTarget{BlockSize: 512, Blocks: 2048}, naa == naaA
		}}
	opts, failNext := rebuilding(devCfg, true)
	h := newLUNHarness(t, hb, opts)
	defer h.sys.Shutdown()
	src := fillRand(t, hb.Backend, 0, 16*512, 0xA1)
	releaseX := hb.hold("write", 100*512)
	h.send(heldCopy(h, 1, 1, seg(0, 0, 8, 0, 100)))
	hb.waitHeld(t, "write@51200")
	failActor(t, h, failNext, 2)
	expectGood(t, "TEST UNIT READY after the recovery", untilNoUA(t, h, 3, tur(h)))
	releaseY := hb.hold("write", 200*512)
	h.send(heldCopy(h, 10, 2, seg(0, 0, 8, 8, 200)))
	hb.waitHeld(t, "write@102400")
	releaseX()
	expectGood(t, "copy X", h.wait(1)[1])
	wantCopyStatus(t, "copy Y, its write still held", copyStatusOf(h, 11, 2), 0x00, 0, 0)
	wantCopyStatus(t, "copy X, ended GOOD across the recovery", copyStatusOf(h, 12, 1), 0x01, 1, 4096)
	releaseY()
	expectGood(t, "copy Y", h.wait(1)[10])
	wantCopyStatus(t, "copy Y, ended", copyStatusOf(h, 13, 2), 0x01, 1, 4096)
	if got := readBack(t, hb.Backend, 200*512, 4096); !bytes.Equal(got, src[8*512:]) {
		t.Fatal("copy Y did not write its destination")
	}
}

// TestFailedCommandPlansNothing: the LUN actor fails on a SANITIZE, or on an
// EXTENDED COPY with a list identifier, after the device model planned its IO and
// before a worker had it; the command is answered CHECK CONDITION, HARDWARE ERROR
// (recover.go) and its IO never runs. So nothing waits for it: the LU is not left
// NOT READY, SANITIZE IN PROGRESS by a sanitize that never started (SBC-4 4.11.1:
// only while one is performed), nor in the sanitize failure mode (the medium was
// not touched), and the list identifier is free for a new copy (SPC-4 6.4.3.2: only
// a copy still being processed makes a new one with its list identifier end in
// OPERATION IN PROGRESS). Both with a rebuilt device model (which, keeping the IO in
// flight, must not keep this one) and with the device model kept (a LUN without
// Rebuild, which kept the plan before the fix: the LU stayed NOT READY for good).
func TestFailedCommandPlansNothing(t *testing.T) {
	for _, rebuild := range []bool{true, false} {
		name := map[bool]string{true: "rebuilt", false: "kept"}[rebuild]
		t.Run("sanitize, device model "+name, func(t *testing.T) {
			hb := newHoldBackend(t)
			opts, failNext := rebuilding(sanitizeCfg, rebuild)
			h := newLUNHarness(t, hb, opts)
			defer h.sys.Shutdown()
			failNext(faults.Write)
			h.send(sanitizeOverwrite(h, 1, false))
			expectCheck(t, "SANITIZE the LUN actor failed on", h.wait(1)[1], scsi.SenseHardwareError, 0x44, 0x00)
			expectGood(t, "TEST UNIT READY after the failed SANITIZE", untilNoUA(t, h, 2, tur(h)))
			c := untilNoUA(t, h, 10, func(itt uint32) *pb.ScsiTask { return h.read(itt, 0) })
			if expectGood(t, "READ after the failed SANITIZE", c); bytes.Contains(c.DataIn, []byte{0xEE}) {
				t.Fatal("the failed SANITIZE overwrote the medium")
			}
		})
		t.Run("copy, device model "+name, func(t *testing.T) {
			hb := newHoldBackend(t)
			devCfg := scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t", NAA: naaA,
				CopyTargets: func(naa uint64) (scsidev.CopyTarget, bool) {
					return scsidev.CopyTarget{BlockSize: 512, Blocks: 2048}, naa == naaA
				}}
			opts, failNext := rebuilding(devCfg, rebuild)
			h := newLUNHarness(t, hb, opts)
			defer h.sys.Shutdown()
			failNext(faults.Any)
			h.send(heldCopy(h, 1, 3, seg(0, 0, 8, 0, 100)))
			expectCheck(t, "EXTENDED COPY the LUN actor failed on", h.wait(1)[1], scsi.SenseHardwareError, 0x44, 0x00)
			c := untilNoUA(t, h, 2, func(itt uint32) *pb.ScsiTask { return heldCopy(h, itt, 3, seg(0, 0, 8, 0, 100)) })
			expectGood(t, "a new EXTENDED COPY with the failed one's list identifier", c)
		})
	}
}
