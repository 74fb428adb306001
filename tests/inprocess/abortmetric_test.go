package inprocess

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestAbortNotCountedAsError: a task aborted by ABORT TASK (never answered to the
// initiator) is counted in atgt_lun_aborted_tasks_total, not in atgt_lun_errors_total
// (whose ABORTED_COMMAND class is the LUN's own 08/01 backend time-outs) nor in the
// commands and latency series; and in-flight returns to zero.
func TestAbortNotCountedAsError(t *testing.T) {
	gate := newGate()
	svc := start(t, baseConfig(t), gate.wrap(0))
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(901), Timeout: 3 * time.Second})
	untilGood(t, s)
	gate.shut(t, "write")
	w := s.Submit(0, write16(0, 8), randomData(1, 8*blockSize), 0)
	gate.waitHeld(t, 1)
	ord := s.SubmitAttr(2, 0, read16(100, 1), nil, blockSize) // ORDERED: waits behind the write
	<-ord.Sent()
	time.Sleep(100 * time.Millisecond)
	if resp, err := s.TaskMgmt(iscsi.TMFAbortTask, 0, ord.ITT()); err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("ABORT TASK: %d %v", resp, err)
	}
	gate.release()
	_, _ = w.Wait()
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.Metrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var aborted, commands, inflight float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "atgt_lun_aborted_tasks_total":
			for _, m := range mf.GetMetric() {
				aborted += m.GetCounter().GetValue()
			}
		case "atgt_lun_commands_total":
			for _, m := range mf.GetMetric() {
				commands += m.GetCounter().GetValue()
			}
		case "atgt_lun_in_flight_tasks", "atgt_lun_tasks_in_flight":
			for _, m := range mf.GetMetric() {
				inflight += m.GetGauge().GetValue()
			}
		}
		if mf.GetName() != "atgt_lun_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "sense_key" {
					t.Logf("atgt_lun_errors_total{sense_key=%q} %v", lp.GetValue(), m.GetCounter().GetValue())
					if lp.GetValue() == "ABORTED_COMMAND" {
						t.Errorf("an ABORT TASK of a queued task is counted as a CHECK CONDITION ABORTED COMMAND error")
					}
				}
			}
		}
	}
	if aborted != 1 {
		t.Errorf("atgt_lun_aborted_tasks_total %v, want 1", aborted)
	}
	if inflight != 0 {
		t.Errorf("tasks in flight %v after every task ended, want 0", inflight)
	}
	t.Logf("commands %v", commands)
}
