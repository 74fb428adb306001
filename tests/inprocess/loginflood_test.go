package inprocess

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/messages/iscsi"
)

// One connection that never authenticates (a discovery login with T=0) sends complete
// Login Requests of distinct unknown keys, reading each answer. The target ends the
// login with 0200 after a bounded number of keys, its heap does not grow with the
// flood, and no answer is longer than the 8192 bytes an initiator may receive during
// login (a longer one would go in parts with C=1).
func TestLoginKeyFloodOverTCP(t *testing.T) {
	cfg, _ := adminConfig(t)
	svc := startWith(t, cfg, target.Options{})
	nc, err := net.Dial("tcp", svc.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := iscsi.NewReader(nc, 1<<16)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	send := func(data []byte) {
		p := &iscsi.PDU{Data: data}
		h := &p.BHS
		h.SetOpcode(iscsi.OpLoginReq)
		h.SetImmediate(true)
		h.SetCSG(iscsi.LoginStageSecurity)
		h.SetISID([6]byte{0x80, 1, 2, 3, 4, 5})
		h.SetITT(1)
		if _, err := nc.Write(iscsi.MarshalPDU(p, false, false)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	n, reqs, maxResp := 0, 0, 0
	var status iscsi.LoginStatus
	start := time.Now()
	for time.Since(start) < 4*time.Second && status == 0 {
		var kvs []iscsi.KV
		if reqs == 0 {
			kvs = []iscsi.KV{{Key: "InitiatorName", Value: initiatorName}, {Key: "SessionType", Value: "Discovery"}}
		}
		data := iscsi.AppendText(nil, kvs...)
		for len(data) < 8192-16 {
			data = iscsi.AppendText(data, iscsi.KV{Key: fmt.Sprintf("X-%x", n)})
			n++
		}
		send(data)
		reqs++
		for {
			resp := &iscsi.PDU{}
			if err := rd.Read(iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24}, resp); err != nil {
				if errors.Is(err, io.EOF) {
					t.Fatalf("closed without a status after %d requests", reqs)
				}
				t.Fatalf("after %d requests: %v", reqs, err)
			}
			maxResp = max(maxResp, len(resp.Data))
			status = resp.BHS.LoginStatus()
			if status != 0 || !resp.BHS.Continue() {
				break
			}
			send(nil) // ask for the next part
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / 1e6
	t.Logf("%d requests, %d keys in %v; status %04x; largest login response %d bytes; heap %+d MB",
		reqs, n, time.Since(start).Round(time.Millisecond), uint16(status), maxResp, grew)
	if status != iscsi.LoginStatusInitiatorError {
		t.Errorf("flood of %d keys in %d requests not ended with 0200 (status %04x)", n, reqs, uint16(status))
	}
	if grew > 32 {
		t.Errorf("an unauthenticated login grew the target's heap by %d MB", grew)
	}
	if maxResp > 8192 {
		t.Errorf("login response of %d bytes exceeds the initiator's MaxRecvDataSegmentLength 8192 during login", maxResp)
	}
}

// An answer longer than the 8192 bytes an initiator may receive during login comes
// in parts over TCP: the first with C=1 and T=0, the next after an empty Login
// Request, the last with the transit asked for; together they answer every key.
// Before, one 9 KB Login Response went out whole.
func TestLoginLongAnswerInParts(t *testing.T) {
	cfg, _ := adminConfig(t)
	svc := startWith(t, cfg, target.Options{})
	nc, err := net.Dial("tcp", svc.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := iscsi.NewReader(nc, 1<<16)
	send := func(data []byte) {
		p := &iscsi.PDU{Data: data}
		h := &p.BHS
		h.SetOpcode(iscsi.OpLoginReq)
		h.SetImmediate(true)
		h.SetTransit(true)
		h.SetCSG(iscsi.LoginStageSecurity)
		h.SetNSG(iscsi.LoginStageOperational)
		h.SetISID([6]byte{0x80, 1, 2, 3, 4, 5})
		h.SetITT(1)
		if _, err := nc.Write(iscsi.MarshalPDU(p, false, false)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	kvs := []iscsi.KV{{Key: "InitiatorName", Value: initiatorName}, {Key: "SessionType", Value: "Discovery"}, {Key: "AuthMethod", Value: "None"}}
	for i := range 120 {
		kvs = append(kvs, iscsi.KV{Key: fmt.Sprintf("X-com.example.%048d", i)})
	}
	send(iscsi.AppendText(nil, kvs...))
	var all []byte
	var statSNs []uint32
	for parts := 1; ; parts++ {
		resp := &iscsi.PDU{}
		if err := rd.Read(iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24}, resp); err != nil {
			t.Fatalf("part %d: %v", parts, err)
		}
		h := &resp.BHS
		if h.LoginStatus() != 0 || len(resp.Data) > 8192 {
			t.Fatalf("part %d: status %04x, %d bytes", parts, uint16(h.LoginStatus()), len(resp.Data))
		}
		all = append(all, resp.Data...)
		statSNs = append(statSNs, h.StatSN())
		if !h.Continue() {
			if parts < 2 || !h.Transit() || h.NSG() != iscsi.LoginStageOperational {
				t.Fatalf("last part %d: T=%v NSG=%d", parts, h.Transit(), h.NSG())
			}
			break
		}
		if h.Transit() {
			t.Fatalf("part %d has C=1 and T=1", parts)
		}
		send(nil)
	}
	got, err := iscsi.ParseText(all)
	if err != nil {
		t.Fatalf("the parts together: %v", err)
	}
	answered := 0
	for _, kv := range got {
		if strings.HasPrefix(kv.Key, "X-com.example.") && kv.Value == "NotUnderstood" {
			answered++
		}
	}
	if answered != 120 {
		t.Fatalf("%d of 120 keys answered in %d bytes", answered, len(all))
	}
	t.Logf("%d bytes in %d parts, StatSN %v", len(all), len(statSNs), statSNs)
}
