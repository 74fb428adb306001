package main

import (
	"strings"
	"testing"
)

// TestHuman: byte counts for people, exact where they can be.
func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"}, {10 << 30, "10 GiB"},
		{1<<40 + 1<<39, "1.5 TiB"}, {1<<30 + 1, "1.0 GiB"}, {^uint64(0), "16 EiB"},
	} {
		if got := human(tc.n); got != tc.want {
			t.Errorf("human(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestTables: the tables people read, for the sample state.
func TestTables(t *testing.T) {
	d := startDaemon(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"luns"}, `
TARGET                    INITIATOR                 ID  BACKEND  SIZE    BLOCK  MODE  WORKERS  POLICY    FAULTS  STATE   PATH
iqn.2026-11.dev.atgt:vm1  -                         0   file     10 GiB  512    rw    4        threaded  0       online  vm1-root.img
iqn.2026-11.dev.atgt:vm1  -                         1   file     1 GiB   4096   rw    8        threaded  0       online  vm1-data.img
iqn.2026-11.dev.atgt:vm2  iqn.2026-11.dev.host:vm2  0   file     2 GiB   512    ro    4        threaded  0       online  vm2-root.img
`},
		{[]string{"targets"}, `
NAME                      ALIAS  LUNS  SESSIONS  INITIATORS  NETWORKS     OWN-LUNS                  CHAP
iqn.2026-11.dev.atgt:vm1  vm1    0,1   1         any         127.0.0.0/8  -                         no
iqn.2026-11.dev.atgt:vm2  -      -     0         any         any          iqn.2026-11.dev.host:vm2  no
`},
		{[]string{"sessions"}, `
TSIH  INITIATOR                                            TARGET                    ADDRESS          ISID          TASKS  READ   WRITTEN  UPTIME
1     iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test  iqn.2026-11.dev.atgt:vm1  127.0.0.1:51234  400001370000  2      1 MiB  512 KiB  1m30s
`},
		{[]string{"status"}, `
version   devel
uptime    43s
config    /etc/atgt/atgt.json
portals   127.0.0.1:3260
targets   2
luns      3
sessions  1
`},
		{[]string{"sessions", "-target", vm2}, `
TSIH  INITIATOR  TARGET  ADDRESS  ISID  TASKS  READ  WRITTEN  UPTIME
`},
		{[]string{"lun", "resize", "-target", vm1, "-id", "1", "-size", "3G"}, `
resized lun 1 of iqn.2026-11.dev.atgt:vm1: 1 GiB -> 3 GiB
`},
	} {
		code, out, errs := d.ctl(tc.args...)
		if want := strings.TrimPrefix(tc.want, "\n"); code != exitOK || out != want {
			t.Errorf("atgtctl %s: exit %d, stderr %q, printed\n%s\nwant\n%s", strings.Join(tc.args, " "), code, errs, out, want)
		}
	}
	_, out, _ := d.ctl("sessions", "-keys")
	if !strings.Contains(out, "\n        HeaderDigest=None\n") {
		t.Errorf("sessions -keys printed\n%s\nwant the keys under the session", out)
	}
	_, out, _ = d.ctl("config", "show")
	if !strings.HasPrefix(out, "{\n  \"portals\": [\n    \"127.0.0.1:3260\"\n  ],\n  \"targets\": [\n") {
		t.Errorf("config show printed\n%s\nwant stable protobuf JSON", out)
	}
}
