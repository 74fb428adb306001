package metrics

import "github.com/prometheus/client_golang/prometheus"

// LogDropSource counts the log lines a process dropped because its log output
// was blocked (logging.Async), read when scraped.
type LogDropSource interface {
	// Dropped is the number of lines dropped since the start.
	Dropped() uint64
}

var descLogDrops = prometheus.NewDesc("atgt_log_lines_dropped_total",
	"Log lines dropped because the log output (stdout, stderr) was blocked and its buffer full.", nil, nil)

// SetLogDrops reports src's count from the next scrape on (nil: none, as for a
// program that writes its log itself).
func (r *Registry) SetLogDrops(src LogDropSource) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logDrops = src
}

// collectLogDrops sends src's count.
func collectLogDrops(ch chan<- prometheus.Metric, src LogDropSource) {
	if src == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descLogDrops, prometheus.CounterValue, float64(src.Dropped()))
}
