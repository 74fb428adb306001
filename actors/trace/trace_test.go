package trace

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// newConn is a registered connection of a tracer at level l.
func newConn(t *testing.T, tr *Tracer) *Conn {
	c := tr.NewConn("iqn.i", "iqn.t", [6]byte{1}, 7)
	t.Cleanup(c.Close)
	return c
}

// TestRingBounds: a long run keeps each connection's ring, the live table and
// each record within their bounds, and ended connections' rings are forgotten
// beyond retiredConns.
func TestRingBounds(t *testing.T) {
	tr := New(Config{Level: Light, Filter: Any, RingTasks: 16})
	defer tr.Close()
	c := newConn(t, tr)
	for i := range 100000 {
		r, id := c.Start(uint32(i), uint32(i), 0, 0x28)
		if r == nil || id == 0 {
			t.Fatal("not traced at level light")
		}
		for range MaxEvents + 5 {
			Add(id, Event{Hop: HopLUN, Actor: ActorLUN})
		}
		if i%3 != 0 { // some tasks never finish: their slot is reused
			c.Finish(r)
		}
	}
	got := tr.Recent(0, Any)
	if len(got) != 16 {
		t.Fatalf("ring holds %d tasks, want 16", len(got))
	}
	for _, tl := range got {
		if len(tl.Events) != MaxEvents {
			t.Fatalf("record holds %d events, want %d", len(tl.Events), MaxEvents)
		}
	}
	live := 0
	for i := range c.live {
		if c.live[i].Load() != nil {
			live++
		}
	}
	if live > liveSlots {
		t.Fatalf("%d live records", live)
	}
	for range retiredConns + 10 {
		d := tr.NewConn("iqn.i", "iqn.t", [6]byte{2}, 8)
		r, _ := d.Start(1, 1, 0, 0)
		d.Finish(r)
		d.Close()
	}
	if n := len(tr.conns()); n != retiredConns+1 {
		t.Fatalf("%d connections readable, want %d", n, retiredConns+1)
	}
}

// TestConcurrentAppends: the watchdog, a task management function and a worker may
// append to one task at once, and readers read rings while connections finish
// tasks; run with -race.
func TestConcurrentAppends(t *testing.T) {
	tr := New(Config{Level: Light, Filter: Any, RingTasks: 64, Sinks: []Sink{&countSink{}}})
	defer tr.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // a reader, as the admin API
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				tr.Recent(10, Any)
				tr.Stats(Any)
				_, _ = tr.Since(0, Any)
			}
		}
	}()
	var conns sync.WaitGroup
	for k := range 4 {
		conns.Add(1)
		go func() {
			defer conns.Done()
			c := tr.NewConn("iqn.i", "iqn.t", [6]byte{byte(k)}, uint16(k))
			defer c.Close()
			for i := range 2000 {
				r, id := c.Start(uint32(i), 0, 0, 0)
				var w sync.WaitGroup
				for range 3 {
					w.Add(1)
					go func() { defer w.Done(); Add(id, Event{Hop: HopWorker}); MarkBad(id) }()
				}
				w.Wait()
				c.Finish(r)
				Add(id, Event{Hop: HopBackendEnd}) // late: dropped
				if n := len(r.Timeline().Events); n != 3 {
					t.Errorf("record has %d events, want 3", n)
					return
				}
			}
		}()
	}
	conns.Wait()
	close(stop)
	wg.Wait()
}

// TestSealRace: appends racing Seal either land whole or are dropped.
func TestSealRace(t *testing.T) {
	for range 200 {
		r := &Record{}
		var w sync.WaitGroup
		for range 4 {
			w.Add(1)
			go func() { defer w.Done(); r.Add(Event{Hop: HopLUN, TNs: 1}) }()
		}
		n := r.Seal()
		w.Wait()
		if got := len(r.sealedEvents()); got != n {
			t.Fatalf("sealed with %d events, reads %d", n, got)
		}
	}
}

// TestFilters: each field of a filter selects the tasks traced.
func TestFilters(t *testing.T) {
	tr := New(Config{Level: Light, Filter: Any})
	defer tr.Close()
	c := newConn(t, tr)
	cases := []struct {
		f    Filter
		lun  uint64
		op   uint8
		want bool
	}{
		{Any, 3, 0x28, true},
		{Filter{LUN: 3, Opcode: -1}, 3, 0x28, true},
		{Filter{LUN: 2, Opcode: -1}, 3, 0x28, false},
		{Filter{LUN: -1, Opcode: 0x2a}, 3, 0x28, false},
		{Filter{LUN: -1, Opcode: 0x28}, 3, 0x28, true},
		{Filter{Target: "iqn.t", Initiator: "iqn.i", LUN: -1, Opcode: -1}, 0, 0, true},
		{Filter{Target: "iqn.other", LUN: -1, Opcode: -1}, 0, 0, false},
		{Filter{Initiator: "iqn.other", LUN: -1, Opcode: -1}, 0, 0, false},
	}
	for i, tc := range cases {
		tr.Set(Settings{Level: Light, Filter: tc.f})
		if r, _ := c.Start(1, 1, tc.lun, tc.op); (r != nil) != tc.want {
			t.Errorf("case %d: traced %v, want %v", i, r != nil, tc.want)
		}
	}
	tr.Set(Settings{Level: Off, Filter: Any})
	if r, id := c.Start(1, 1, 0, 0); r != nil || id != 0 {
		t.Fatal("traced at level off")
	}
}

// TestSinkDrops: a sink that does not keep up loses timelines to a full queue,
// counted, and never blocks Finish.
func TestSinkDrops(t *testing.T) {
	block := make(chan struct{})
	s := &countSink{block: block}
	tr := New(Config{Level: Light, Filter: Any, Sinks: []Sink{s}, SinkQueue: 4})
	c := newConn(t, tr)
	for i := range 100 {
		r, _ := c.Start(uint32(i), 0, 0, 0)
		c.Finish(r)
	}
	close(block)
	_, _, dropped := tr.Counters()
	if dropped < 100-4-1 {
		t.Fatalf("dropped %d of 100 with a queue of 4", dropped)
	}
	tr.Close()
}

type countSink struct {
	n, entered atomic.Int64
	block      chan struct{}
}

func (s *countSink) Finished(*Timeline) {
	s.entered.Add(1)
	if s.block != nil {
		<-s.block
	}
	s.n.Add(1)
}

// TestFlightRecorder: a LUN's recorder keeps its last N tasks and logs a bad end
// as one warn record, a unit attention or GOOD not at all.
func TestFlightRecorder(t *testing.T) {
	var buf bytes.Buffer
	f := NewFlight("iqn.t", 3, 4, 1, hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn}))
	ua := []byte{0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0}
	medium := []byte{0x70, 0, 0x03, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0}
	for i := range 10 {
		t := &pb.ScsiTask{Itt: uint32(i), Nexus: "iqn.i,i,0x400001370000", Cdb: []byte{0x28}, ArrivedNanos: 100, QueuedNanos: 200}
		switch i {
		case 7:
			f.Done(0, t, 0x02, ua, 900, ActorLUN, "$1")
		case 8:
			t.IoStartNanos, t.IoEndNanos = 300, 800
			f.Done(0, t, 0x02, medium, 900, ActorWorker, "$1/$2")
		case 9:
			t.Flight = FlightRetried
			f.Done(0, t, 0, nil, 900, ActorWorker, "$1/$3")
		default:
			f.Done(0, t, 0, nil, 900, ActorWorker, "$1/$2")
		}
	}
	if n := len(f.Recent()); n != 4 {
		t.Fatalf("recorder keeps %d tasks, want 4", n)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "itt=0x8") || !strings.Contains(lines[0], "backend.end@worker+700ns") ||
		!strings.Contains(lines[0], "initiator=iqn.i") || !strings.Contains(lines[1], "why=retried") {
		t.Fatalf("flight log:\n%s", buf.String())
	}
}

// TestStrip: level full keeps messages without their payload.
func TestStrip(t *testing.T) {
	task := &pb.ScsiTask{Itt: 5, Cdb: []byte{0x2a}, DataOut: make([]byte, 4096), DataOutParts: [][]byte{{1}}}
	io := &pb.IoRequest{Task: task, Parts: []*pb.IoRequest{{Task: task}}, Extents: []int64{1, 2}}
	got := Strip(io).(*pb.IoRequest)
	if got.Task.Itt != 5 || len(got.Task.Cdb) != 1 || got.Task.DataOut != nil || got.Task.DataOutParts != nil ||
		got.Parts[0].Task.DataOut != nil || len(got.Extents) != 2 {
		t.Fatalf("stripped %v", got)
	}
	if len(task.DataOut) != 4096 {
		t.Fatal("Strip changed its input")
	}
	c := Strip(&pb.ScsiCompletion{Status: 2, Sense: []byte{0x70}, DataIn: []byte{1, 2}}).(*pb.ScsiCompletion)
	if len(c.Sense) != 1 || c.DataIn != nil {
		t.Fatalf("stripped completion %v", c)
	}
}

// TestCloseWaitsForSink: Close waits for a sink's call in progress, and no sink is
// called once Close has returned, however many timelines were still queued: an
// embedder shuts its sink (an exporter) down after the target's stop.
func TestCloseWaitsForSink(t *testing.T) {
	block := make(chan struct{})
	s := &countSink{block: block}
	tr := New(Config{Level: Light, Filter: Any, Sinks: []Sink{s}, SinkQueue: 64})
	for i := range 20 {
		tr.Emit(&Timeline{ID: TaskID{ITT: uint32(i + 1)}})
	}
	for s.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		tr.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a sink was in its call")
	case <-time.After(200 * time.Millisecond):
	}
	close(block)
	<-closed
	n := s.n.Load()
	time.Sleep(100 * time.Millisecond)
	if s.n.Load() != n {
		t.Fatalf("the sink was called %d times after Close returned", s.n.Load()-n)
	}
}
