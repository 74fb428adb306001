package main

import (
	"encoding/json"
	"strings"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestTraceRecentJSON: `atgtctl -o json trace recent -n N` prints one JSON object a
// line with the fields scripts rely on, opcode a number and hops in order.
func TestTraceRecentJSON(t *testing.T) {
	d := startDaemon(t)
	code, out, errs := d.ctl("-o", "json", "trace", "recent", "-n", "7", "-lun", "0", "-opcode", "0x88")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	req := d.lastRequest(t).(*pb.TraceRecentRequest)
	if req.N != 7 || !req.Filter.HasLun || req.Filter.Lun != 0 || !req.Filter.HasOpcode || req.Filter.Opcode != 0x88 {
		t.Fatalf("request %v", req)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"initiator", "tsih", "itt", "cmdsn", "lun", "opcode", "hops"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, lines[0])
		}
	}
	if op, ok := m["opcode"].(float64); !ok || op != 0x88 {
		t.Errorf("opcode %v, want the number 136", m["opcode"])
	}
	hops := m["hops"].([]any)
	first := hops[0].(map[string]any)
	if first["actor"] != "reader" || first["message"] != "PDU" || first["tNs"].(float64) != 1_000_000 || len(hops) != 13 {
		t.Errorf("hops %v", hops)
	}
}

// TestTraceCommands: the other trace commands' table and chrome forms, and the
// level's filters.
func TestTraceCommands(t *testing.T) {
	d := startDaemon(t)
	code, out, errs := d.ctl("trace", "level", "light", "-target", vm1, "-initiator", "iqn.x")
	if code != exitOK || out != "trace level light for target "+vm1+", initiator iqn.x\n" {
		t.Fatalf("trace level: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := d.ctl("trace", "level", "loud"); code != exitUsage || !strings.Contains(errs, "not off, light or full") {
		t.Fatalf("trace level loud: exit %d %s", code, errs)
	}
	code, out, _ = d.ctl("trace", "task", "0x10")
	for _, w := range []string{"task itt 0x10 tsih 1 cmdsn 42 lun 0 0x88 READ(16): GOOD in 45µs", "+ARRIVAL",
		"backend.end    27µs      12µs   worker"} {
		if code != exitOK || !strings.Contains(out, w) {
			t.Fatalf("trace task lacks %q:\n%s", w, out)
		}
	}
	if code, _, errs := d.ctl("trace", "task", "zz"); code != exitUsage {
		t.Fatalf("trace task zz: exit %d %s", code, errs)
	}
	code, out, _ = d.ctl("-o", "chrome", "trace", "slow", "-over", "1ms")
	var ch struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	if err := json.Unmarshal([]byte(out), &ch); code != exitOK || err != nil || len(ch.TraceEvents) != 13+len(map[string]bool{
		"reader": true, "conn": true, "session": true, "lun": true, "worker": true, "writer": true}) {
		t.Fatalf("chrome: exit %d err %v events %d", code, err, len(ch.TraceEvents))
	}
	if r := d.lastRequest(t).(*pb.TraceSlowRequest); r.OverSeconds != 0.001 {
		t.Fatalf("slow request %v", r)
	}
	code, out, _ = d.ctl("trace", "stats")
	if code != exitOK || !strings.Contains(out, "lun  1      3µs") {
		t.Fatalf("trace stats:\n%s", out)
	}
	code, out, _ = d.ctl("-o", "json", "trace", "tail", "-n", "1")
	if code != exitOK || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"itt":16`) {
		t.Fatalf("trace tail: exit %d\n%s", code, out)
	}
}
