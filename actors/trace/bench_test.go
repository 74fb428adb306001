package trace

import (
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// BenchmarkFlightDone is what every task pays the flight recorder when it is
// answered (tracing off or on): an uncontended lock, a copy of the task's ids and times into the LUN's
// ring and an unlock, and the checks for a bad end.
func BenchmarkFlightDone(b *testing.B) {
	f := NewFlight("iqn.t", 0, 64, 3, hclog.NewNullLogger())
	t := &pb.ScsiTask{Itt: 1, Cdb: []byte{0x28}}
	b.ReportAllocs()
	for b.Loop() {
		f.Done(0, t, 0, nil, 1, ActorWorker, "$1")
	}
}

// BenchmarkFlightDoneParallel is BenchmarkFlightDone from every worker at once.
func BenchmarkFlightDoneParallel(b *testing.B) {
	f := NewFlight("iqn.t", 0, 64, 3, hclog.NewNullLogger())
	b.ReportAllocs()
	var shard atomic.Int32
	b.RunParallel(func(pb_ *testing.PB) {
		t := &pb.ScsiTask{Itt: 1, Cdb: []byte{0x28}}
		k := int(shard.Add(1)) // each worker its own shard, as in a LUN
		for pb_.Next() {
			f.Done(k, t, 0, nil, 1, ActorWorker, "$1")
		}
	})
}

// BenchmarkOffDecision is what a task pays at level off: the decision.
func BenchmarkOffDecision(b *testing.B) {
	tr := New(Config{Level: Off, Filter: Any})
	c := tr.NewConn("iqn.i", "iqn.t", [6]byte{}, 1)
	defer c.Close()
	for b.Loop() {
		if r, _ := c.Start(1, 1, 0, 0x28); r != nil {
			b.Fatal("traced")
		}
	}
}

// BenchmarkLightTask is one traced READ at level light: the record, its 13 hops
// (each found by id, as the LUN and workers do) and the finish into the ring.
func BenchmarkLightTask(b *testing.B) {
	tr := New(Config{Level: Light, Filter: Any, RingTasks: 256})
	c := tr.NewConn("iqn.i", "iqn.t", [6]byte{}, 1)
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		r, id := c.Start(1, 1, 0, 0x28)
		for h := HopReceived; h < HopReceived+13; h++ {
			Add(id, Event{Hop: h, Actor: ActorLUN, ActorID: "$1"})
		}
		c.Finish(r)
	}
}
