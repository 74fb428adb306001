package metrics

import (
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	"github.com/atgt/atgt/messages/scsi"
)

// fixedSense is fixed-format sense data with key k.
func fixedSense(k uint8) []byte { return []byte{0x70, 0, k, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0} }

// TestCollect feeds counts in through the counting API and checks the exposition a
// scrape produces, metric by metric.
func TestCollect(t *testing.T) {
	const us, ms = int64(1e3), int64(1e6)
	for _, tc := range []struct {
		name  string
		feed  func(r *Registry)
		names []string
		want  string
	}{{
		name: "commands, bytes and latency by kind",
		feed: func(r *Registry) {
			l := NewLUN("iqn.t", "", 0, 2, nil)
			r.Add("iqn.t", 0, l)
			s := l.Shard(1)
			s.Complete(KindOf([]byte{scsi.OpRead10}), 0, 60*us, scsi.StatusGood, nil, 4096)
			s.Complete(KindOf([]byte{scsi.OpRead16}), 10*us, 40*us, scsi.StatusGood, nil, 512)
			l.Shard(2).Complete(KindOf([]byte{scsi.OpWrite10}), 0, 2*ms, scsi.StatusGood, nil, 8192)
			l.Shard(0).Complete(KindOf([]byte{scsi.OpInquiry}), 0, 0, scsi.StatusGood, nil, 36)
		},
		names: []string{"atgt_lun_commands_total", "atgt_lun_bytes_total"},
		want: `
# HELP atgt_lun_bytes_total Bytes moved by the LUN's commands that ended GOOD, by kind: data read or written; for unmap, bytes deallocated.
# TYPE atgt_lun_bytes_total counter
atgt_lun_bytes_total{initiator="",kind="other",lun="0",target="iqn.t"} 36
atgt_lun_bytes_total{initiator="",kind="read",lun="0",target="iqn.t"} 4608
atgt_lun_bytes_total{initiator="",kind="sync",lun="0",target="iqn.t"} 0
atgt_lun_bytes_total{initiator="",kind="unmap",lun="0",target="iqn.t"} 0
atgt_lun_bytes_total{initiator="",kind="write",lun="0",target="iqn.t"} 8192
# HELP atgt_lun_commands_total SCSI commands the LUN completed, by kind (read, write, unmap, sync, other).
# TYPE atgt_lun_commands_total counter
atgt_lun_commands_total{initiator="",kind="other",lun="0",target="iqn.t"} 1
atgt_lun_commands_total{initiator="",kind="read",lun="0",target="iqn.t"} 2
atgt_lun_commands_total{initiator="",kind="sync",lun="0",target="iqn.t"} 0
atgt_lun_commands_total{initiator="",kind="unmap",lun="0",target="iqn.t"} 0
atgt_lun_commands_total{initiator="",kind="write",lun="0",target="iqn.t"} 1
`,
	}, {
		name: "latency histogram",
		feed: func(r *Registry) {
			l := NewLUN("iqn.t", "iqn.i", 3, 1, nil)
			r.Add("iqn.t iqn.i", 3, l)
			s := l.Shard(1)
			s.Complete(KindSync, 0, 50*us, scsi.StatusGood, nil, 0)  // on the first bound
			s.Complete(KindSync, 0, 700*us, scsi.StatusGood, nil, 0) // 1 ms bucket
			s.Complete(KindSync, 0, 20*1e9, scsi.StatusGood, nil, 0) // beyond 10 s: +Inf only
			s.Complete(KindSync, 100, 50, scsi.StatusGood, nil, 0)   // a clock step back counts as 0
		},
		names: []string{"atgt_lun_command_duration_seconds"},
		want: histogramText("iqn.i", "3", "iqn.t", map[string]string{"sync": `
 0.00005 2
 0.0001 2
 0.00025 2
 0.0005 2
 0.001 3
 0.0025 3
 0.005 3
 0.01 3
 0.025 3
 0.05 3
 0.1 3
 0.25 3
 0.5 3
 1 3
 2.5 3
 5 3
 10 3
 +Inf 4
 sum 20.00075
 count 4`}),
	}, {
		name: "errors by sense key and status, tasks in flight",
		feed: func(r *Registry) {
			l := NewLUN("iqn.t", "", 1, 1, nil)
			r.Add("iqn.t", 1, l)
			for range 5 {
				l.Shard(0).Arrive()
			}
			s := l.Shard(1)
			s.Complete(KindRead, 0, 1, scsi.StatusCheckCondition, fixedSense(scsi.SenseMediumError), 4096)
			s.Complete(KindRead, 0, 1, scsi.StatusCheckCondition, []byte{0x72, scsi.SenseNotReady, 4, 1}, 0)
			s.Complete(KindWrite, 0, 1, scsi.StatusReservationConflict, nil, 0)
			s.Complete(KindWrite, 0, 1, scsi.StatusCheckCondition, fixedSense(scsi.SenseMediumError), 0)
			l.Shard(0).WorkerRestarted()
			l.Shard(0).Abandoned()
			l.Shard(0).Abandoned()
		},
		names: []string{"atgt_lun_errors_total", "atgt_lun_tasks_in_flight", "atgt_lun_worker_restarts_total",
			"atgt_lun_abandoned_ios_total"},
		want: `
# HELP atgt_lun_abandoned_ios_total Backend calls the LUN gave up on (watchdog timeout, or an aborted task past its grace).
# TYPE atgt_lun_abandoned_ios_total counter
atgt_lun_abandoned_ios_total{initiator="",lun="1",target="iqn.t"} 2
# HELP atgt_lun_errors_total Commands that did not end GOOD, by the sense key of CHECK CONDITION (e.g. MEDIUM_ERROR), or by status when there is no sense (e.g. RESERVATION_CONFLICT).
# TYPE atgt_lun_errors_total counter
atgt_lun_errors_total{initiator="",lun="1",sense_key="MEDIUM_ERROR",target="iqn.t"} 2
atgt_lun_errors_total{initiator="",lun="1",sense_key="NOT_READY",target="iqn.t"} 1
atgt_lun_errors_total{initiator="",lun="1",sense_key="RESERVATION_CONFLICT",target="iqn.t"} 1
# HELP atgt_lun_tasks_in_flight Tasks that reached the LUN actor and are not yet completed.
# TYPE atgt_lun_tasks_in_flight gauge
atgt_lun_tasks_in_flight{initiator="",lun="1",target="iqn.t"} 1
# HELP atgt_lun_worker_restarts_total IO workers restarted after they failed.
# TYPE atgt_lun_worker_restarts_total counter
atgt_lun_worker_restarts_total{initiator="",lun="1",target="iqn.t"} 1
`,
	}, {
		name: "injected faults, read from the injector at scrape",
		feed: func(r *Registry) {
			inj := faults.New(nil, nil)
			inj.Set([]faults.Fault{{Op: faults.Read, Kind: faults.Error, Probability: 1, Count: 2}})
			b := inj.Wrap(backend.NewMemory(1 << 20))
			for range 3 { // the third read passes: Count is 2
				_, _ = b.ReadAt(make([]byte, 512), 0)
			}
			r.Add("iqn.t", 0, NewLUN("iqn.t", "", 0, 1, inj))
			r.Add("iqn.t", 1, NewLUN("iqn.t", "", 1, 1, nil)) // no injector: no series
		},
		names: []string{"atgt_lun_faults_injected_total"},
		want: `
# HELP atgt_lun_faults_injected_total Injected faults that fired, by fault kind (counted again from zero when the faults are set).
# TYPE atgt_lun_faults_injected_total counter
atgt_lun_faults_injected_total{fault="error",initiator="",lun="0",target="iqn.t"} 2
`,
	}, {
		name: "a removed LUN is no longer reported",
		feed: func(r *Registry) {
			a, b := NewLUN("iqn.t", "", 0, 1, nil), NewLUN("iqn.t", "", 1, 1, nil)
			r.Add("iqn.t", 0, a)
			r.Add("iqn.t", 1, b)
			a.Shard(0).WorkerRestarted()
			b.Shard(0).WorkerRestarted()
			r.Remove("iqn.t", 0)
		},
		names: []string{"atgt_lun_worker_restarts_total"},
		want: `
# HELP atgt_lun_worker_restarts_total IO workers restarted after they failed.
# TYPE atgt_lun_worker_restarts_total counter
atgt_lun_worker_restarts_total{initiator="",lun="1",target="iqn.t"} 1
`,
	}, {
		name: "sessions per target, logins, logouts, digests, rejects",
		feed: func(r *Registry) {
			r.Add("iqn.a", 0, NewLUN("iqn.a", "", 0, 1, nil)) // a target with LUNs and no session: 0
			r.SessionUp("iqn.b")
			r.SessionUp("iqn.b")
			r.SessionUp("iqn.c")
			r.SessionDown("iqn.c") // a target with neither is not reported
			r.SessionDown("iqn.b")
			for _, res := range []LoginResult{LoginSuccess, LoginSuccess, LoginAuthenticationFailure,
				LoginAuthorizationFailure, LoginNegotiationFailure, LoginTimeout, LoginTimeout} {
				r.Login(res)
			}
			r.Logout(true)
			r.Logout(false)
			r.Logout(false)
			r.DigestError(true)
			r.DigestError(false)
			r.DigestError(false)
			r.RejectedPDU()
		},
		names: []string{"atgt_target_sessions", "atgt_logins_total", "atgt_logouts_total", "atgt_digest_errors_total",
			"atgt_rejected_pdus_total"},
		want: `
# HELP atgt_digest_errors_total PDUs received with a wrong CRC32C digest, by type (header, data).
# TYPE atgt_digest_errors_total counter
atgt_digest_errors_total{type="data"} 2
atgt_digest_errors_total{type="header"} 1
# HELP atgt_logins_total Logins by result (success, authentication_failure, authorization_failure, negotiation_failure, timeout).
# TYPE atgt_logins_total counter
atgt_logins_total{result="authentication_failure"} 1
atgt_logins_total{result="authorization_failure"} 1
atgt_logins_total{result="negotiation_failure"} 1
atgt_logins_total{result="success"} 2
atgt_logins_total{result="timeout"} 2
# HELP atgt_logouts_total Ends of logged-in connections: normal (the initiator logged out) or abnormal (anything else).
# TYPE atgt_logouts_total counter
atgt_logouts_total{kind="abnormal"} 2
atgt_logouts_total{kind="normal"} 1
# HELP atgt_rejected_pdus_total Reject PDUs sent to initiators.
# TYPE atgt_rejected_pdus_total counter
atgt_rejected_pdus_total 1
# HELP atgt_target_sessions Logged-in normal (not discovery) sessions of the target.
# TYPE atgt_target_sessions gauge
atgt_target_sessions{target="iqn.a"} 0
atgt_target_sessions{target="iqn.b"} 1
`,
	}, {
		name: "log lines dropped",
		feed: func(r *Registry) {
			r.SetLogDrops(logDrops(7))
		},
		names: []string{"atgt_log_lines_dropped_total"},
		want: `
# HELP atgt_log_lines_dropped_total Log lines dropped because the log output (stdout, stderr) was blocked and its buffer full.
# TYPE atgt_log_lines_dropped_total counter
atgt_log_lines_dropped_total 7
`,
	}, {
		name:  "no log lines dropped series without a source",
		feed:  func(r *Registry) {},
		names: []string{"atgt_log_lines_dropped_total"},
		want:  "",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			tc.feed(r)
			if err := testutil.CollectAndCompare(r, strings.NewReader(tc.want), tc.names...); err != nil {
				t.Error(err)
			}
		})
	}
}

// histogramText writes the expected exposition of atgt_lun_command_duration_seconds
// for one LUN: per kind, lines of " le count" then " sum S" and " count N";
// kinds not given are all zero.
func histogramText(initiator, lun, target string, kinds map[string]string) string {
	var b strings.Builder
	b.WriteString("\n# HELP atgt_lun_command_duration_seconds Time from a command's arrival at the LUN actor to its completion, by kind.\n")
	b.WriteString("# TYPE atgt_lun_command_duration_seconds histogram\n")
	labels := `initiator="` + initiator + `",kind="%s",lun="` + lun + `",target="` + target + `"`
	for _, k := range []string{"other", "read", "sync", "unmap", "write"} {
		lines := kinds[k]
		if lines == "" {
			for _, le := range bucketSeconds {
				lines += "\n " + formatFloat(le) + " 0"
			}
			lines += "\n +Inf 0\n sum 0\n count 0"
		}
		l := strings.ReplaceAll(labels, "%s", k)
		for _, line := range strings.Split(strings.TrimSpace(lines), "\n") {
			f := strings.Fields(line)
			switch f[0] {
			case "sum", "count":
				b.WriteString("atgt_lun_command_duration_seconds_" + f[0] + "{" + l + "} " + f[1] + "\n")
			default:
				b.WriteString("atgt_lun_command_duration_seconds_bucket{" + l + `,le="` + f[0] + `"} ` + f[1] + "\n")
			}
		}
	}
	return b.String()
}

// logDrops is a LogDropSource with a fixed count.
type logDrops uint64

func (n logDrops) Dropped() uint64 { return uint64(n) }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestKindOf checks the classification of the commands the README lists per kind.
func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		cdb  []byte
		want Kind
	}{
		{[]byte{scsi.OpRead6}, KindRead}, {[]byte{scsi.OpRead10}, KindRead}, {[]byte{scsi.OpRead12}, KindRead},
		{[]byte{scsi.OpRead16}, KindRead}, {[]byte{scsi.OpWrite6}, KindWrite}, {[]byte{scsi.OpWrite16}, KindWrite},
		{[]byte{scsi.OpWriteSame16}, KindWrite}, {[]byte{scsi.OpCompareAndWrite}, KindWrite},
		{[]byte{scsi.OpWriteAndVerify10}, KindWrite}, {[]byte{scsi.OpUnmap}, KindUnmap},
		{[]byte{scsi.OpSynchronizeCache10}, KindSync}, {[]byte{scsi.OpSynchronizeCache16}, KindSync},
		{[]byte{scsi.OpInquiry}, KindOther}, {[]byte{scsi.OpTestUnitReady}, KindOther}, {nil, KindOther},
	} {
		if got := KindOf(tc.cdb); got != tc.want {
			t.Errorf("KindOf(%x) = %v, want %v", tc.cdb, got, tc.want)
		}
	}
}
