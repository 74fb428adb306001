package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctlTask is one line of `atgtctl -o json trace recent`: what scripts rely on.
type ctlTask struct {
	Initiator string `json:"initiator"`
	TSIH      uint32 `json:"tsih"`
	ITT       uint32 `json:"itt"`
	CmdSN     uint32 `json:"cmdsn"`
	LUN       uint64 `json:"lun"`
	Opcode    uint32 `json:"opcode"`
	Hops      []struct {
		Hop     string `json:"hop"`
		Actor   string `json:"actor"`
		Message string `json:"message"`
		TNs     int64  `json:"tNs"`
	} `json:"hops"`
}

// TestTraceQemuRead runs the real atgtd with -trace light, reads 4 KiB with
// qemu-io, and finds the READ with atgtctl: `-o json trace recent` prints one JSON
// object a line with the task's identity and its hops in order (the connection,
// session, LUN and IO worker among them, with times), `trace task ITT` shows its
// timeline, `-o chrome` writes trace events, and `trace stats` per-hop figures.
func TestTraceQemuRead(t *testing.T) {
	qemuIO := requireTool(t, "qemu-io", "qemu-utils qemu-block-extra")
	dataDir := t.TempDir()
	d := startDaemon(t, "-data", dataDir, "-trace", "light")
	sock := filepath.Join(dataDir, "atgtd.sock")
	out, err := runTool(t, 60*time.Second, qemuIO, "-f", "raw", "-c", "read 1M 4k", d.url(defaultIQN, testLUN))
	if err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	t.Logf("qemu-io:\n%s", out)

	lines := strings.Split(strings.TrimSpace(d.mustCtl(t, sock, "-o", "json", "trace", "recent", "-n", "500")), "\n")
	var read *ctlTask
	for _, l := range lines {
		var tk ctlTask
		if err := json.Unmarshal([]byte(l), &tk); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if (tk.Opcode == 0x28 || tk.Opcode == 0x88) && read == nil {
			for _, h := range tk.Hops {
				if h.Hop == "backend.start" {
					read = &tk
				}
			}
		}
	}
	if read == nil {
		t.Fatalf("no READ with a backend call among %d traced tasks", len(lines))
	}
	if !strings.Contains(read.Initiator, "iqn.") || read.TSIH == 0 || read.LUN != uint64(testLUN) {
		t.Fatalf("READ's identity: %+v", read)
	}
	want := map[string]bool{"conn": false, "session": false, "lun": false, "worker": false, "reader": false, "writer": false}
	for i, h := range read.Hops {
		if _, ok := want[h.Actor]; ok {
			want[h.Actor] = true
		}
		if h.TNs <= 0 || (i > 0 && h.TNs < read.Hops[i-1].TNs) {
			t.Fatalf("hop %d (%s) at %d: times not in order: %+v", i, h.Hop, h.TNs, read.Hops)
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("no hop by a %s actor: %+v", a, read.Hops)
		}
	}

	tl := d.mustCtl(t, sock, "trace", "task", fmt.Sprintf("0x%x", read.ITT), "-tsih", fmt.Sprint(read.TSIH))
	for _, w := range []string{"+ARRIVAL", "+PREV", "ordered", "session", "lun", "worker", "backend.end", "written"} {
		if !strings.Contains(tl, w) {
			t.Errorf("trace task output lacks %q", w)
		}
	}
	var chrome struct {
		TraceEvents []struct {
			Name string  `json:"name"`
			Ph   string  `json:"ph"`
			Ts   float64 `json:"ts"`
			Pid  int     `json:"pid"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "chrome", "trace", "recent", "-n", "5")), &chrome); err != nil {
		t.Fatalf("-o chrome: %v", err)
	}
	if len(chrome.TraceEvents) == 0 || chrome.TraceEvents[0].Ph != "X" {
		t.Fatalf("-o chrome: %+v", chrome.TraceEvents)
	}
	if st := d.mustCtl(t, sock, "trace", "stats"); !strings.Contains(st, "backend.end") || !strings.Contains(st, "P99") {
		t.Fatalf("trace stats:\n%s", st)
	}
	d.mustCtl(t, sock, "trace", "level", "off")
	if !strings.Contains(d.mustCtl(t, sock, "trace", "stats"), "level off") {
		t.Fatal("trace level off did not switch tracing off")
	}
}
