package inprocess

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// TestOrderedTaskDuringImmedSanitize: SANITIZE with IMMED is answered GOOD at once
// and the overwrite goes on in the background. That background work is no task of
// the task set: an ORDERED task sent meanwhile (PERSISTENT RESERVE OUT PREEMPT AND
// ABORT always runs as one) must not wait for it, and neither must the REQUEST
// SENSE behind it that polls the sanitize's progress. SBC-4 4.11: while a sanitize
// runs, commands but INQUIRY, REPORT LUNS and REQUEST SENSE are answered NOT READY,
// SANITIZE IN PROGRESS, at once.
func TestOrderedTaskDuringImmedSanitize(t *testing.T) {
	cfg := baseConfig(t)
	l := cfg.Targets[0].Luns[0]
	l.SizeBytes = 4 << 20
	l.AllowSanitize = true
	l.SanitizeBytesPerSecond = 1 << 20 // about 4 s for the whole LUN
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1706)})
	ready(t, s, 0)
	cdb := make([]byte, 10)
	cdb[0], cdb[1] = 0x48, 0x80|0x01 // SANITIZE, IMMED, OVERWRITE
	binary.BigEndian.PutUint16(cdb[7:9], 8)
	params := []byte{0x01, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef}
	if r, err := s.Command(0, cdb, params, 0); err != nil || r.Status != 0 {
		t.Fatalf("SANITIZE IMMED: %v %+v", err, r)
	}
	const ordered = 2
	tur := s.SubmitAttr(ordered, 0, make([]byte, 6), nil, 0)
	<-tur.Sent()
	time.Sleep(50 * time.Millisecond)                        // the ORDERED task is in the task set first
	rs := s.Submit(0, []byte{0x03, 0, 0, 0, 18, 0}, nil, 18) // REQUEST SENSE, SIMPLE
	deadline := time.Now().Add(1500 * time.Millisecond)
	var hung []string
	for _, c := range []struct {
		name string
		tk   *initiator.Task
	}{{"ORDERED TEST UNIT READY", tur}, {"REQUEST SENSE", rs}} {
		select {
		case <-c.tk.Done():
		case <-time.After(time.Until(deadline)):
			hung = append(hung, c.name)
		}
	}
	tr, terr := tur.Wait()
	rr, rerr := rs.Wait()
	if len(hung) > 0 {
		t.Fatalf("during a SANITIZE with IMMED, %v not answered within 1.5 s (answered only when the sanitize ended)", hung)
	}
	if terr != nil || tr.Status != 2 || len(tr.Sense) < 14 || tr.Sense[2]&0x0F != 2 || tr.Sense[12] != 0x04 || tr.Sense[13] != 0x1B {
		t.Fatalf("ORDERED TEST UNIT READY during the sanitize: %v %+v, want NOT READY, SANITIZE IN PROGRESS", terr, tr)
	}
	if rerr != nil || rr.Status != 0 || len(rr.Data) < 18 || rr.Data[12] != 0x04 || rr.Data[13] != 0x1B {
		t.Fatalf("REQUEST SENSE during the sanitize: %v %+v, want GOOD with 04/1B", rerr, rr)
	}
	// SBC-4: the sense data carries the PROGRESS INDICATION (SKSV, bytes 16-17);
	// the first of four 1 MiB chunks is written at once.
	time.Sleep(1200 * time.Millisecond)
	rr, rerr = s.Command(0, []byte{0x03, 0, 0, 0, 18, 0}, nil, 18)
	if rerr != nil || rr.Status != 0 || len(rr.Data) < 18 || rr.Data[13] != 0x1B || rr.Data[15]&0x80 == 0 ||
		binary.BigEndian.Uint16(rr.Data[16:18]) < 16384 {
		t.Fatalf("REQUEST SENSE a second into the sanitize: %v %+v, want SKSV and a progress of at least 1/4", rerr, rr)
	}
	// The sanitize ends and the LUN is usable again (nothing was lost in the counts).
	end := time.Now().Add(15 * time.Second)
	for {
		r, err := s.Command(0, make([]byte, 6), nil, 0)
		if err == nil && r.Status == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the LUN is not ready 15 s after the sanitize began: %v %+v", err, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
