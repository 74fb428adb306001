package lun

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/supervise"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// notReadyManual is the fixed-format sense of NOT READY, LOGICAL UNIT NOT READY,
// MANUAL INTERVENTION REQUIRED, byte for byte (SPC-4 4.5.3).
var notReadyManual = []byte{0x70, 0, 0x02, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x04, 0x03, 0, 0, 0, 0}

// TestMissingStoreAnswers: a LUN whose store is missing answers every medium
// access command, READ CAPACITY and TEST UNIT READY CHECK CONDITION 04/03 (exact
// sense bytes); INQUIRY answers GOOD with the peripheral qualifier connected (000b)
// and the LUN's identity; REPORT LUNS lists the set's LUNs; REQUEST SENSE reports
// the NOT READY state; task management is answered; once its store exists it calls
// Appeared (once until StillMissing), and a retired one answers LOGICAL UNIT NOT
// SUPPORTED. A failure restarts it, answering as before.
func TestMissingStoreAnswers(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	done := make(chan *pb.ScsiCompletion, 16)
	tmfs := make(chan *pb.TaskManagementDone, 4)
	conn := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *pb.ScsiCompletion:
			done <- m
		case *pb.TaskManagementDone:
			tmfs <- m
		}
	}))
	path := filepath.Join(t.TempDir(), "later.img")
	appeared := make(chan struct{}, 4)
	dev := scsidev.New(scsidev.Config{BlockSize: 512, TargetName: "t", LUN: 1, NAA: 0x6001405deadbeef0,
		ListLUNs: func() []uint64 { return []uint64{0, 1} }})
	pid := sys.Root.Spawn(MissingProps(MissingConfig{Target: "t", ID: 1, Path: path, Device: dev,
		Recheck: 20 * time.Millisecond, Appeared: func() { appeared <- struct{}{} }}))
	ask := func(itt uint32, cdb []byte) *pb.ScsiCompletion {
		t.Helper()
		sys.Root.Send(pid, &pb.ScsiTask{Itt: itt, Cdb: cdb, Nexus: "n1", Target: "t", ReplyTo: pb.NewPid(conn)})
		select {
		case c := <-done:
			if c.Itt != itt {
				t.Fatalf("answer for itt %d, want %d", c.Itt, itt)
			}
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("itt %d: no answer", itt)
		}
		return nil
	}
	for i, tc := range []struct {
		name string
		cdb  []byte
	}{
		{"TEST UNIT READY", []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}},
		{"READ(10)", []byte{scsi.OpRead10, 0, 0, 0, 0, 0, 0, 0, 8, 0}},
		{"WRITE(10)", []byte{scsi.OpWrite10, 0, 0, 0, 0, 0, 0, 0, 8, 0}},
		{"READ CAPACITY(10)", []byte{scsi.OpReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"READ CAPACITY(16)", []byte{scsi.OpServiceActionIn16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}},
		{"SYNCHRONIZE CACHE(10)", []byte{scsi.OpSynchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	} {
		c := ask(uint32(i+1), tc.cdb)
		if c.Status != uint32(scsi.StatusCheckCondition) || !bytes.Equal(c.Sense, notReadyManual) {
			t.Errorf("%s: status %#x sense % x, want CHECK CONDITION % x", tc.name, c.Status, c.Sense, notReadyManual)
		}
	}
	inq := ask(10, []byte{scsi.OpInquiry, 0, 0, 0, 96, 0})
	if inq.Status != uint32(scsi.StatusGood) || len(inq.DataIn) < 36 || inq.DataIn[0] != 0x00 {
		t.Errorf("INQUIRY: status %#x data % x, want GOOD, peripheral qualifier 000b, type 0", inq.Status, inq.DataIn)
	}
	vpd := ask(11, []byte{scsi.OpInquiry, 1, 0x83, 0, 252, 0})
	if vpd.Status != uint32(scsi.StatusGood) || !bytes.Contains(vpd.DataIn, []byte{0x60, 0x01, 0x40, 0x5d, 0xea, 0xdb, 0xee, 0xf0}) {
		t.Errorf("INQUIRY VPD 83h: status %#x data % x, want the LUN's NAA", vpd.Status, vpd.DataIn)
	}
	rl := ask(12, []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0})
	want := []byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	if rl.Status != uint32(scsi.StatusGood) || !bytes.Equal(rl.DataIn, want) {
		t.Errorf("REPORT LUNS: status %#x data % x, want % x", rl.Status, rl.DataIn, want)
	}
	rs := ask(13, []byte{scsi.OpRequestSense, 0, 0, 0, 252, 0})
	if rs.Status != uint32(scsi.StatusGood) || !bytes.Equal(rs.DataIn, notReadyManual) {
		t.Errorf("REQUEST SENSE: status %#x data % x, want GOOD with % x", rs.Status, rs.DataIn, notReadyManual)
	}
	sys.Root.Send(pid, &pb.TaskManagement{Itt: 20, Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, ReplyTo: pb.NewPid(conn)})
	select {
	case d := <-tmfs:
		if d.Itt != 20 || d.Response != iscsi.TMFRespComplete {
			t.Errorf("LUN RESET: %+v, want function complete", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LUN RESET: no answer")
	}

	// A failure restarts it (protoactor's default, as the root's strategy does):
	// it answers as before, and looks for its store again.
	sys.Root.Send(pid, &supervise.Crash{Reason: "test"})
	if c := ask(21, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}); !bytes.Equal(c.Sense, notReadyManual) {
		t.Errorf("after a restart: status %#x sense % x, want % x", c.Status, c.Sense, notReadyManual)
	}

	// Nothing is reported while the store is absent; once it exists, Appeared
	// is called once, and again after StillMissing.
	select {
	case <-appeared:
		t.Fatal("Appeared called while the store is missing")
	case <-time.After(100 * time.Millisecond):
	}
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-appeared:
		case <-time.After(5 * time.Second):
			t.Fatal("the store exists, but Appeared was not called")
		}
		select {
		case <-appeared:
			t.Fatal("Appeared called twice before StillMissing")
		case <-time.After(100 * time.Millisecond):
		}
		sys.Root.Send(pid, &StillMissing{Reason: "smaller than one block"})
	}

	res := make(chan RetireResult, 1)
	sys.Root.Send(pid, &Retire{Done: func(r RetireResult) { res <- r }})
	if r := <-res; r.Refused || r.Held != 0 {
		t.Errorf("Retire: %+v, want done holding nothing", r)
	}
	c := ask(30, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0})
	if c.Status != uint32(scsi.StatusCheckCondition) || !bytes.Equal(c.Sense[12:14], []byte{0x25, 0x00}) {
		t.Errorf("retired: status %#x sense % x, want LOGICAL UNIT NOT SUPPORTED", c.Status, c.Sense)
	}
}
