package inprocess

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// hopsOf returns a timeline's hop names in order.
func hopsOf(tl *trace.Timeline) []string {
	var out []string
	for _, e := range tl.Events {
		out = append(out, e.Hop.String())
	}
	return out
}

// findTask waits for the finished traced task with opcode op, the last one.
func findTask(t *testing.T, tr *trace.Tracer, op uint8) *trace.Timeline {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := trace.Any
		f.Opcode = int(op)
		if tls := tr.Recent(0, f); len(tls) > 0 {
			return tls[len(tls)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no traced task with opcode %#x finished", op)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantInOrder asserts that the hops of want occur in tl in that order (others may
// come between), with times that never go back, and names the actors of each.
func wantInOrder(t *testing.T, tl *trace.Timeline, want []string, actors map[string]string) {
	t.Helper()
	got := hopsOf(tl)
	i := 0
	for _, e := range tl.Events {
		if i < len(want) && e.Hop.String() == want[i] {
			if a, ok := actors[want[i]]; ok && e.Actor != a {
				t.Errorf("hop %s by %q, want %q", want[i], e.Actor, a)
			}
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("hops %v: want %v in this order (missing from %q)", got, want, want[i])
	}
	for k := 1; k < len(tl.Events); k++ {
		if tl.Events[k].TNs < tl.Events[k-1].TNs {
			t.Fatalf("hops %v: times go back at %d", got, k)
		}
	}
}

// readHops are the hops every traced READ passes, in order.
var readHops = []string{"received", "admitted", "ordered", "lun", "checked", "queued", "worker", "backend.start",
	"backend.end", "completed", "response", "queuedout", "written"}

var hopActors = map[string]string{"received": trace.ActorReader, "admitted": trace.ActorConn, "ordered": trace.ActorSession,
	"lun": trace.ActorLUN, "worker": trace.ActorWorker, "completed": trace.ActorWorker, "written": trace.ActorWriter,
	"r2t": trace.ActorConn, "dataout": trace.ActorConn, "dispatched": trace.ActorConn}

// TestTraceReadWrite: with tracing light, a READ and a WRITE whose data is
// solicited with R2T (InitialR2T=Yes, ImmediateData=No) each leave a timeline with
// every hop in order, with the task's identity as the initiator knows it.
func TestTraceReadWrite(t *testing.T) {
	svc := startWith(t, baseConfig(t), target.Options{TraceLevel: "light"})
	yes, no := true, false
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1500), InitialR2T: &yes, ImmediateData: &no})
	ready(t, s, 0)
	data := randomData(15, 8192)
	if err := s.Write(0, 64, data, blockSize, false); err != nil {
		t.Fatalf("write: %v", err)
	}
	w := findTask(t, svc.Tracer(), scsi.OpWrite16)
	wantInOrder(t, w, []string{"received", "admitted", "ordered", "r2t", "dataout", "dispatched", "lun", "checked", "queued",
		"worker", "backend.start", "backend.end", "completed", "response", "queuedout", "written"}, hopActors)
	mustReadBack(t, s, 0, 64, data)
	r := findTask(t, svc.Tracer(), scsi.OpRead16)
	wantInOrder(t, r, readHops, hopActors)
	if r.ID.Initiator != initiatorName || r.ID.Target != targetName || r.ID.ISID != isid(1500) || r.ID.TSIH == 0 ||
		r.ID.LUN != 0 || r.Status != 0 || r.Bad {
		t.Fatalf("read's identity %+v status %d bad %v", r.ID, r.Status, r.Bad)
	}
	if tl := svc.Tracer().Task(r.ID.ITT, int(r.ID.TSIH)); len(tl) != 1 {
		t.Fatalf("Task(0x%x) found %d tasks", r.ID.ITT, len(tl))
	}
}

// TestTraceFilterAndLevel: tracing switched on at runtime for one opcode traces only
// those tasks; switched off, nothing more is traced; at full the messages are kept
// without their data.
func TestTraceFilterAndLevel(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1501)})
	ready(t, s, 0)
	tr := svc.Tracer()
	if _, err := s.Read(0, 0, 8, blockSize); err != nil {
		t.Fatal(err)
	}
	if n := len(tr.Recent(0, trace.Any)); n != 0 {
		t.Fatalf("tracing off recorded %d tasks", n)
	}
	f := trace.Any
	f.Opcode = scsi.OpWrite16
	tr.Set(trace.Settings{Level: trace.Full, Filter: f})
	if _, err := s.Read(0, 0, 8, blockSize); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(0, 8, randomData(1, 4096), blockSize, false); err != nil {
		t.Fatal(err)
	}
	w := findTask(t, tr, scsi.OpWrite16)
	if all := tr.Recent(0, trace.Any); len(all) != 1 {
		t.Fatalf("filter on WRITE(10) traced %d tasks", len(all))
	}
	var sawTask bool
	for _, e := range w.Events {
		if m, ok := e.Msg.(*pb.ScsiTask); ok {
			sawTask = true
			if len(m.DataOut) != 0 || len(m.DataOutParts) != 0 || len(m.Cdb) == 0 {
				t.Fatalf("full kept the task's data or lost its CDB: %v", m)
			}
		}
	}
	if !sawTask {
		t.Fatalf("full kept no ScsiTask message: %v", hopsOf(w))
	}
	tr.Set(trace.Settings{Level: trace.Off, Filter: trace.Any})
	if err := s.Write(0, 8, randomData(1, 4096), blockSize, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if all := tr.Recent(0, trace.Any); len(all) != 1 {
		t.Fatalf("after off, %d tasks traced", len(all))
	}
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// flightLines waits for the log lines of flight records that contain all of want.
func flightLines(t *testing.T, buf *syncBuffer, wait time.Duration, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var out []string
		for _, l := range strings.Split(buf.String(), "\n") {
			ok := strings.Contains(l, "flight record")
			for _, w := range want {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				out = append(out, l)
			}
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFlightRecorder: a task answered CHECK CONDITION is logged at warn as one
// flight record with its hops, with tracing off (the LUN-side hops) and on (the
// whole trace); a unit attention is not.
func TestFlightRecorder(t *testing.T) {
	buf := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: buf})
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "read", Kind: "error", Offset: 1 << 20, Length: 4096}}
	svc, err := target.StartWith(cfg, log, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1502)})
	ready(t, s, 0)
	if lines := flightLines(t, buf, 0, "status=0x02"); len(lines) != 0 {
		t.Fatalf("a unit attention was flight recorded: %v", lines)
	}
	_, err = s.Read(0, (1<<20)/blockSize, 8, blockSize)
	expectSense(t, "read of the faulty range", err, scsi.SenseMediumError, -1)
	lines := flightLines(t, buf, 5*time.Second, "[WARN]", "opcode=0x88", "status=0x02", "why=fault")
	if len(lines) != 1 || !strings.Contains(lines[0], "backend.end@worker") || !strings.Contains(lines[0], "lun@lun") ||
		!strings.Contains(lines[0], "initiator="+initiatorName) {
		t.Fatalf("untraced flight records %q", lines)
	}
	t.Logf("untraced flight record: %s", lines[0])
	// Past the LBA range: CHECK CONDITION ILLEGAL REQUEST from the LUN, traced.
	svc.Tracer().Set(trace.Settings{Level: trace.Light, Filter: trace.Any})
	_, err = s.Read(0, lunSize/blockSize, 8, blockSize)
	expectSense(t, "read past the end", err, scsi.SenseIllegalRequest, -1)
	lines = flightLines(t, buf, 5*time.Second, "received@reader", "written@writer", "status=0x02")
	if len(lines) != 1 || !strings.Contains(lines[0], "checked@lun") || !strings.Contains(lines[0], "sense=70") {
		t.Fatalf("traced flight records %q", lines)
	}
	t.Logf("flight record: %s", lines[0])
}

// TestTraceRetriedAndAbandoned: with tracing on, a READ retried after its worker
// crashed and one whose call passed ioTimeout each leave a timeline with the hop
// (retry, abandoned) and a flight record, though the first was answered GOOD; the
// abandoned call returning late touches nothing (run with -race).
func TestTraceRetriedAndAbandoned(t *testing.T) {
	const (
		panicOff = 2 << 20
		hungOff  = 1 << 20
	)
	var panics atomic.Int32
	hold := newOffsetHold(t, "read", hungOff)
	buf := &syncBuffer{}
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].IoTimeout = proto.Float64(0.2)
	svc, err := target.StartWith(cfg, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: buf}), target.Options{
		TraceLevel: "light",
		WrapBackend: func(tg string, lun uint64, b backend.Backend) backend.Backend {
			b = backend.WithFaults(b, func(op string, o int64) (bool, error) {
				return op == "read" && o == panicOff && panics.Add(1) == 1, nil
			})
			return hold.wrap(0)(tg, lun, b)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1503)})
	ready(t, s, 0)
	if _, err := s.Read(0, panicOff/blockSize, 8, blockSize); err != nil {
		t.Fatalf("retried READ: %v", err)
	}
	lines := flightLines(t, buf, 5*time.Second, "retry@lun")
	if len(lines) != 1 || !strings.Contains(lines[0], "retry@lun") || !strings.Contains(lines[0], "status=0x00") {
		t.Fatalf("retried READ's flight record: %q", lines)
	}
	_, err = s.Read(0, hungOff/blockSize, 8, blockSize)
	expectSense(t, "READ hung past ioTimeout", err, scsi.SenseAbortedCommand, 0x08)
	lines = flightLines(t, buf, 5*time.Second, "abandoned@lun")
	if len(lines) != 1 || !strings.Contains(lines[0], "written@writer") {
		t.Fatalf("abandoned READ's flight record: %q", lines)
	}
	hold.open()
	var bad int
	for _, tl := range svc.Tracer().Recent(0, trace.Any) {
		if tl.Bad {
			bad++
		}
	}
	if bad != 2 {
		t.Fatalf("%d traced tasks marked bad, want 2", bad)
	}
}

// TestTraceAbortTask: a traced WRITE aborted by ABORT TASK while a worker holds it
// ends with the tmf hop and without a response ("ended", aborted), marked bad.
func TestTraceAbortTask(t *testing.T) {
	gate := newGate()
	svc := startWith(t, baseConfig(t), target.Options{WrapBackend: gate.wrap(0), TraceLevel: "light"})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1504), Timeout: 3 * time.Second})
	untilGood(t, s)
	gate.shut(t, "write")
	task := s.Submit(0, write16(0, 8), randomData(1, 8*blockSize), 0)
	gate.waitHeld(t, 1)
	aborted := make(chan error, 1)
	go func() {
		_, err := s.TaskMgmt(iscsi.TMFAbortTask, 0, task.ITT())
		aborted <- err
	}()
	time.Sleep(50 * time.Millisecond)
	gate.passOne(t)
	if err := <-aborted; err != nil {
		t.Fatal(err)
	}
	gate.release()
	var got *trace.Timeline
	for _, tl := range svc.Tracer().Task(task.ITT(), -1) {
		got = tl
	}
	if got == nil {
		t.Fatalf("aborted task 0x%x not traced", task.ITT())
	}
	wantInOrder(t, got, []string{"received", "lun", "worker", "backend.start", "tmf", "backend.end", "completed", "response", "ended"}, nil)
	if last := got.Events[len(got.Events)-1]; last.Result != "aborted" || !got.Bad {
		t.Fatalf("aborted task ends %+v, bad %v", last, got.Bad)
	}
}

// TestTraceLargeWrite: a WRITE of many Data-Out PDUs keeps its end hops: the
// repeated R2T and Data-Out hops give way first, counted as dropped.
func TestTraceLargeWrite(t *testing.T) {
	svc := startWith(t, baseConfig(t), target.Options{TraceLevel: "light"})
	yes, no := true, false
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1505), InitialR2T: &yes, ImmediateData: &no,
		MaxBurstLength: 8192})
	ready(t, s, 0)
	data := randomData(16, 1<<20)
	if err := s.Write(0, 0, data, blockSize, false); err != nil {
		t.Fatalf("write: %v", err)
	}
	w := findTask(t, svc.Tracer(), scsi.OpWrite16)
	wantInOrder(t, w, []string{"received", "ordered", "r2t", "dataout", "lun", "worker", "backend.end", "completed",
		"queuedout", "written"}, hopActors)
	r2ts := 0
	for _, e := range w.Events {
		if e.Hop == trace.HopR2T {
			r2ts++
		}
	}
	if len(w.Events) > trace.MaxEvents || r2ts == 0 || r2ts >= (1<<20)/8192 {
		t.Fatalf("%d hops, %d of 128 R2Ts: %v", len(w.Events), r2ts, hopsOf(w))
	}
}
