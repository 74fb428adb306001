package metrics

import "time"

// Latency is kept in fixed buckets of atomic counters, found by a short scan of
// integer bounds: cheaper per IO than a prometheus.Histogram's Observe (see
// BenchmarkObserve), and turned into a const histogram only when scraped.

// bucketBounds are the histograms' upper bounds, in nanoseconds: from 50 µs (a
// page-cache hit) to 10 s (past any sane ioTimeout), 1-2.5-5 per decade.
var bucketBounds = [...]int64{
	50e3, 100e3, 250e3, 500e3,
	1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6,
	1e9, 2.5e9, 5e9, 10e9,
}

// numBuckets counts the bounded buckets and the last one, +Inf.
const numBuckets = len(bucketBounds) + 1

// bucketSeconds are the bounds as Prometheus's "le" labels.
var bucketSeconds = func() (s [len(bucketBounds)]float64) {
	for i, b := range bucketBounds {
		s[i] = float64(b) / 1e9
	}
	return s
}()

// bucketOf returns the bucket of a duration of d nanoseconds. Most IO ends within
// the first few bounds, so a scan from the bottom beats a binary search.
func bucketOf(d int64) int {
	for i, b := range bucketBounds {
		if d <= b {
			return i
		}
	}
	return len(bucketBounds)
}

// epoch is the origin of Now.
var epoch = time.Now()

// Now is the metrics clock: monotonic nanoseconds since the process started. A
// task is stamped with it when it reaches its LUN and again when it completes.
func Now() int64 { return int64(time.Since(epoch)) }
