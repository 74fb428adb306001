package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The Registry's metric descriptions. Every atgt_lun_ metric has the labels
// target, initiator ("" for a LUN every initiator of the target sees) and lun.
var (
	lunLabels = []string{"target", "initiator", "lun"}

	descCommands = prometheus.NewDesc("atgt_lun_commands_total",
		"SCSI commands the LUN completed, by kind (read, write, unmap, sync, other).",
		append(lunLabels, "kind"), nil)
	descBytes = prometheus.NewDesc("atgt_lun_bytes_total",
		"Bytes moved by the LUN's commands that ended GOOD, by kind: data read or written; for unmap, bytes deallocated.",
		append(lunLabels, "kind"), nil)
	descDuration = prometheus.NewDesc("atgt_lun_command_duration_seconds",
		"Time from a command's arrival at the LUN actor to its completion, by kind.",
		append(lunLabels, "kind"), nil)
	descInFlight = prometheus.NewDesc("atgt_lun_tasks_in_flight",
		"Tasks that reached the LUN actor and are not yet completed.", lunLabels, nil)
	descErrors = prometheus.NewDesc("atgt_lun_errors_total",
		"Commands that did not end GOOD, by the sense key of CHECK CONDITION (e.g. MEDIUM_ERROR), or by status when there is no sense (e.g. RESERVATION_CONFLICT).",
		append(lunLabels, "sense_key"), nil)
	descRestarts = prometheus.NewDesc("atgt_lun_worker_restarts_total",
		"IO workers restarted after they failed.", lunLabels, nil)
	descAbandoned = prometheus.NewDesc("atgt_lun_abandoned_ios_total",
		"Backend calls the LUN gave up on (watchdog timeout, or an aborted task past its grace).", lunLabels, nil)
	descAborted = prometheus.NewDesc("atgt_lun_aborted_tasks_total",
		"Tasks ended by task management (ABORT TASK and the like, or the loss of their I_T nexus) before they completed; not in the commands, latency or errors series.", lunLabels, nil)
	descFaults = prometheus.NewDesc("atgt_lun_faults_injected_total",
		"Injected faults that fired, by fault kind (counted again from zero when the faults are set).",
		append(lunLabels, "fault"), nil)
	descSessions = prometheus.NewDesc("atgt_target_sessions",
		"Logged-in normal (not discovery) sessions of the target.", []string{"target"}, nil)
	descLogins = prometheus.NewDesc("atgt_logins_total",
		"Logins by result (success, authentication_failure, authorization_failure, negotiation_failure, timeout).",
		[]string{"result"}, nil)
	descLogouts = prometheus.NewDesc("atgt_logouts_total",
		"Ends of logged-in connections: normal (the initiator logged out) or abnormal (anything else).",
		[]string{"kind"}, nil)
	descDigests = prometheus.NewDesc("atgt_digest_errors_total",
		"PDUs received with a wrong CRC32C digest, by type (header, data).", []string{"type"}, nil)
	descOnline = prometheus.NewDesc("atgt_lun_online",
		"1 while the LUN serves its store; 0 while its store is missing or it is offline after repeated failures (it answers NOT READY).", lunLabels, nil)
	descRejected = prometheus.NewDesc("atgt_rejected_pdus_total",
		"Reject PDUs sent to initiators.", nil, nil)
)

// Describe sends every metric's description.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCommands, descBytes, descDuration, descInFlight, descErrors,
		descRestarts, descAbandoned, descAborted, descFaults, descOnline, descSessions, descLogins, descLogouts, descDigests, descRejected,
		descDataInHeld, descDataInLimit, descDataInPauses, descSlowReaders, descLogDrops} {
		ch <- d
	}
}

// Collect sums every LUN's shards and sends the metrics. The mutex is held only to
// copy the LUN list and the session counts.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	luns := make([]*LUN, 0, len(r.luns))
	targets := map[string]int64{}
	for _, l := range r.luns {
		luns = append(luns, l)
		targets[l.target] += 0
	}
	for t, n := range r.sessions {
		targets[t] = n
	}
	dataIn, logDrops := r.dataIn, r.logDrops
	r.mu.Unlock()

	for _, l := range luns {
		l.collect(ch)
	}
	for t, n := range targets {
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(n), t)
	}
	for i := range r.ev.logins {
		ch <- prometheus.MustNewConstMetric(descLogins, prometheus.CounterValue,
			float64(r.ev.logins[i].Load()), LoginResult(i).String())
	}
	ch <- prometheus.MustNewConstMetric(descLogouts, prometheus.CounterValue, float64(r.ev.logouts[0].Load()), "normal")
	ch <- prometheus.MustNewConstMetric(descLogouts, prometheus.CounterValue, float64(r.ev.logouts[1].Load()), "abnormal")
	ch <- prometheus.MustNewConstMetric(descDigests, prometheus.CounterValue, float64(r.ev.digests[0].Load()), "header")
	ch <- prometheus.MustNewConstMetric(descDigests, prometheus.CounterValue, float64(r.ev.digests[1].Load()), "data")
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(r.ev.rejected.Load()))
	collectDataIn(ch, dataIn)
	collectLogDrops(ch, logDrops)
}

// collect sends one LUN's metrics. Every kind is reported, even at zero, so that
// rates start at the first scrape; error classes and fault kinds only once seen.
func (l *LUN) collect(ch chan<- prometheus.Metric) {
	t := l.totals()
	labels := func(extra string) []string { return []string{l.target, l.initiator, l.id, extra} }
	for k := range numKinds {
		name := k.String()
		ch <- prometheus.MustNewConstMetric(descCommands, prometheus.CounterValue, float64(t.commands[k]), labels(name)...)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(t.bytes[k]), labels(name)...)
		buckets := make(map[float64]uint64, len(bucketSeconds))
		var cum uint64
		for b, le := range bucketSeconds {
			cum += t.buckets[k][b]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(descDuration, t.commands[k], float64(t.sumNanos[k])/1e9, buckets,
			labels(name)...)
	}
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(t.arrived-min(t.completed, t.arrived)),
		l.target, l.initiator, l.id)
	for c, n := range t.errors {
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n), labels(errNames[c])...)
		}
	}
	online := 1.0
	if !l.Online() {
		online = 0
	}
	ch <- prometheus.MustNewConstMetric(descOnline, prometheus.GaugeValue, online, l.target, l.initiator, l.id)
	ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(t.restarts), l.target, l.initiator, l.id)
	ch <- prometheus.MustNewConstMetric(descAbandoned, prometheus.CounterValue, float64(t.abandoned), l.target, l.initiator, l.id)
	ch <- prometheus.MustNewConstMetric(descAborted, prometheus.CounterValue, float64(t.aborted), l.target, l.initiator, l.id)
	if l.faults != nil {
		for kind, n := range l.faults.FiredByKind() {
			ch <- prometheus.MustNewConstMetric(descFaults, prometheus.CounterValue, float64(n), labels(kind.String())...)
		}
	}
}
