package metrics

import (
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atgt/atgt/messages/scsi"
)

// The two ways to keep a per-kind latency histogram that the brief allowed, measured
// on what one IO costs: this package's fixed buckets of atomics (one shard per
// writer) against a pre-resolved prometheus.Observer. Each includes its share of
// the rest of a completion (commands, bytes) so the figures compare what the data
// path pays. Run: go test -bench . -benchmem ./actors/metrics

// latencies cycles through typical IO latencies, mostly page-cache hits.
var latencies = [8]int64{40e3, 60e3, 80e3, 120e3, 300e3, 70e3, 900e3, 2e6}

// BenchmarkObserve is Shard.Complete: what each IO pays with metrics on.
func BenchmarkObserve(b *testing.B) {
	s := NewLUN("iqn.t", "", 0, 1, nil).Shard(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Complete(KindRead, 0, latencies[i&7], scsi.StatusGood, nil, 4096)
	}
}

// BenchmarkObserveParallel is Shard.Complete with one shard per goroutine, as
// the IO workers have.
func BenchmarkObserveParallel(b *testing.B) {
	l := NewLUN("iqn.t", "", 0, 64, nil)
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		s := l.Shard(int(next.Add(1)))
		i := 0
		for pb.Next() {
			s.Complete(KindRead, 0, latencies[i&7], scsi.StatusGood, nil, 4096)
			i++
		}
	})
}

// BenchmarkPrometheusObserver is the alternative: a prometheus.Histogram per LUN and
// kind resolved once (no label lookup per IO) and a counter for bytes.
func BenchmarkPrometheusObserver(b *testing.B) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "d", Buckets: bucketSeconds[:]},
		[]string{"kind"}).WithLabelValues("read")
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b"}, []string{"kind"}).WithLabelValues("read")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Observe(float64(latencies[i&7]) / 1e9)
		c.Add(4096)
	}
}

// BenchmarkPrometheusObserverParallel is the alternative with every worker of a
// LUN writing the same histogram, as it would.
func BenchmarkPrometheusObserverParallel(b *testing.B) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "d", Buckets: bucketSeconds[:]},
		[]string{"kind"}).WithLabelValues("read")
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b"}, []string{"kind"}).WithLabelValues("read")
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h.Observe(float64(latencies[i&7]) / 1e9)
			c.Add(4096)
			i++
		}
	})
}

// BenchmarkNow is the clock read each task pays twice (arrival, completion).
func BenchmarkNow(b *testing.B) {
	var sum int64
	for b.Loop() {
		sum += Now()
	}
	_ = sum
}

// BenchmarkCollect is one scrape of 16 LUNs.
func BenchmarkCollect(b *testing.B) {
	r := NewRegistry()
	for i := range 16 {
		l := NewLUN("iqn.t", "", uint64(i), 4, nil)
		l.Shard(1).Complete(KindRead, 0, 1e5, scsi.StatusGood, nil, 4096)
		r.Add("iqn.t", uint64(i), l)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
