package inprocess

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestMetricsAbandonedIO: a READ whose backend call hangs past ioTimeout is
// abandoned; the service's metrics count the abandoned call, the ABORTED COMMAND it
// was answered with and the NOT READY answers while the only worker was gone, and
// once the call returns no task is left in flight.
func TestMetricsAbandonedIO(t *testing.T) {
	const hungOff = 1 << 20
	hold := newOffsetHold(t, "read", hungOff)
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].Workers = 1
	cfg.Targets[0].Luns[0].IoTimeout = proto.Float64(0.2)
	svc := start(t, cfg, hold.wrap(0))
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1401)})
	ready(t, s, 0)

	_, err := s.Read(0, hungOff/blockSize, 8, blockSize)
	expectSense(t, "READ hung past ioTimeout", err, scsi.SenseAbortedCommand, 0x08)
	expectSense(t, "TEST UNIT READY with the only worker's call abandoned", s.TestUnitReady(0), scsi.SenseNotReady, 0x04)
	hold.open()
	deadline := time.Now().Add(5 * time.Second)
	for s.TestUnitReady(0) != nil {
		if time.Now().After(deadline) {
			t.Fatal("still not ready 5 s after the call returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := gather(t, svc.Metrics())
	lun := map[string]string{"target": targetName, "initiator": "", "lun": "0"}
	with := func(k, v string) map[string]string {
		l := map[string]string{k: v}
		for n, x := range lun {
			l[n] = x
		}
		return l
	}
	m.want(t, "atgt_lun_abandoned_ios_total", lun, 1)
	m.want(t, "atgt_lun_errors_total", with("sense_key", "ABORTED_COMMAND"), 1)
	if n := m.value(t, "atgt_lun_errors_total", with("sense_key", "NOT_READY")); n < 1 {
		t.Errorf("NOT_READY errors %v; want at least the TEST UNIT READY answered while not ready", n)
	}
	m.want(t, "atgt_lun_tasks_in_flight", lun, 0)
	m.want(t, "atgt_lun_commands_total", with("kind", "read"), 1)
	m.want(t, "atgt_lun_bytes_total", with("kind", "read"), 0) // it did not end GOOD
	m.want(t, "atgt_target_sessions", map[string]string{"target": targetName}, 1)
}

// TestMetricsDigestErrors: with CRC32C digests negotiated, a NOP-Out whose data
// digest is wrong is answered with a Reject, counted as a data digest error and a
// rejected PDU; one whose header digest is wrong closes the connection, counted as a
// header digest error and an abnormal logout, and the target's session count drops.
func TestMetricsDigestErrors(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	r, err := initiator.DialRaw(svc.Addrs()[0], initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:digests",
		TargetName: targetName, ISID: isid(1402), HeaderDigest: true, DataDigest: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer r.Conn.Close()
	if !r.Params.HeaderDigest || !r.Params.DataDigest {
		t.Fatalf("digests negotiated %v/%v; want both", r.Params.HeaderDigest, r.Params.DataDigest)
	}
	nop := func(itt uint32) []byte {
		p := &iscsi.PDU{Data: []byte("ping")}
		h := &p.BHS
		h.SetOpcode(iscsi.OpNopOut)
		h.SetImmediate(true)
		h.SetFinal(true)
		h.SetITT(itt)
		h.SetTTT(0xffffffff)
		h.SetCmdSN(r.CmdSN)
		h.SetExpStatSN(r.ExpStatSN)
		h.SetDataSegmentLength(uint32(len(p.Data)))
		return iscsi.MarshalPDU(p, true, true)
	}
	b := nop(1)
	b[len(b)-1] ^= 0xff // the data digest
	if _, err := r.Conn.Write(b); err != nil {
		t.Fatal(err)
	}
	var in iscsi.PDU
	r.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := r.Reader.Read(iscsi.Limits{MaxRecvDataSegmentLength: 1 << 20, HeaderDigest: true, DataDigest: true}, &in); err != nil {
		t.Fatalf("answer to a NOP-Out with a bad data digest: %v", err)
	}
	if in.BHS.Opcode() != iscsi.OpReject {
		t.Fatalf("answer to a NOP-Out with a bad data digest: %v; want a Reject", in.BHS.Opcode())
	}
	m := gather(t, svc.Metrics())
	m.want(t, "atgt_digest_errors_total", map[string]string{"type": "data"}, 1)
	m.want(t, "atgt_digest_errors_total", map[string]string{"type": "header"}, 0)
	m.want(t, "atgt_rejected_pdus_total", nil, 1)
	m.want(t, "atgt_target_sessions", map[string]string{"target": targetName}, 1)

	b = nop(2)
	b[iscsi.BHSLength] ^= 0xff // the header digest
	if _, err := r.Conn.Write(b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m = gather(t, svc.Metrics())
		if m.value(t, "atgt_target_sessions", map[string]string{"target": targetName}) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.want(t, "atgt_target_sessions", map[string]string{"target": targetName}, 0)
	m.want(t, "atgt_digest_errors_total", map[string]string{"type": "header"}, 1)
	m.want(t, "atgt_logouts_total", map[string]string{"kind": "abnormal"}, 1)
	m.want(t, "atgt_logouts_total", map[string]string{"kind": "normal"}, 0)
	m.want(t, "atgt_logins_total", map[string]string{"result": "success"}, 1)
}

// gathered is a scrape of a collector: each sample's value (a histogram's count)
// by its name and labels (key).
type gathered map[string]float64

// key names a sample: its metric name and its labels sorted by name.
func key(name string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		name += fmt.Sprintf(" %s=%q", n, labels[n])
	}
	return name
}

// gather collects c's metrics through a pedantic registry, which also checks them.
func gather(t *testing.T, c prometheus.Collector) gathered {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	g := gathered{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			g[key(mf.GetName(), labels)] = v
		}
	}
	return g
}

// value returns a sample, failing the test if there is none.
func (g gathered) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := g[key(name, labels)]
	if !ok {
		t.Fatalf("no sample %s", key(name, labels))
	}
	return v
}

// want checks a sample's value.
func (g gathered) want(t *testing.T, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := g.value(t, name, labels); got != want {
		t.Errorf("%s = %v; want %v", key(name, labels), got, want)
	}
}
