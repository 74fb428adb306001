package metrics

import "github.com/prometheus/client_golang/prometheus"

// DataInSource is the target-wide Data-In budget the connections share
// (conn.ReadBudget): read when scraped, never per IO.
type DataInSource interface {
	// Limit is the budget in bytes (maxReadBufferMib).
	Limit() int64
	// Held is the Data-In all connections owe or hold now.
	Held() int64
	// Pauses counts the waits of connections' readers the budget caused.
	Pauses() uint64
	// SlowEnds counts connections ended for taking their Data-In too slowly.
	SlowEnds() uint64
}

var (
	descDataInHeld = prometheus.NewDesc("atgt_data_in_held_bytes",
		"Data-In all connections owe or hold: the expected length of reading commands not yet answered plus responses queued for the writers.",
		nil, nil)
	descDataInLimit = prometheus.NewDesc("atgt_data_in_limit_bytes",
		"The target-wide Data-In budget (maxReadBufferMib).", nil, nil)
	descDataInPauses = prometheus.NewDesc("atgt_data_in_pauses_total",
		"Times a connection's reader stopped taking PDUs because the target was over its Data-In budget and the connection over its share.",
		nil, nil)
	descSlowReaders = prometheus.NewDesc("atgt_slow_reader_ends_total",
		"Connections ended because their initiator took its Data-In slower than 64 KiB/s over a whole write timeout.",
		nil, nil)
)

// SetDataIn reports src's figures from the next scrape on (nil: none).
func (r *Registry) SetDataIn(src DataInSource) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dataIn = src
}

// collectDataIn sends src's figures.
func collectDataIn(ch chan<- prometheus.Metric, src DataInSource) {
	if src == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descDataInHeld, prometheus.GaugeValue, float64(max(src.Held(), 0)))
	ch <- prometheus.MustNewConstMetric(descDataInLimit, prometheus.GaugeValue, float64(src.Limit()))
	ch <- prometheus.MustNewConstMetric(descDataInPauses, prometheus.CounterValue, float64(src.Pauses()))
	ch <- prometheus.MustNewConstMetric(descSlowReaders, prometheus.CounterValue, float64(src.SlowEnds()))
}
