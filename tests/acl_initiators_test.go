package tests

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAllowedInitiators: the plain initiator access list (allowedInitiators) of a
// target, through the real atgtd: the listed initiator logs in and does IO; another
// is refused with 0202, does not see the target in SendTargets (while it sees a
// second, open target), and libiscsi's iscsi-inq logging in under its name fails
// where under the listed name it succeeds.
func TestAllowedInitiators(t *testing.T) {
	const open = "iqn.2026-11.dev.atgt:open"
	cfg := oneLunConfig(t, aclLUNSize, aclInitA)
	cfg.Targets = append(cfg.Targets, testTarget{Name: open, Luns: []testLun{aclLun(cfg.DataDir, 0, "open0.img")}})
	d := startDaemonConfig(t, cfg)

	s := mustDial(t, d.addr, aclInitA, defaultIQN, "")
	if err := retryUnitAttention(func() error { return s.TestUnitReady(uint64(testLUN)) }); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0xa1}, 4096)
	if err := s.Write(uint64(testLUN), 8, data, 512, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(uint64(testLUN), 8, 8, 512); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}

	_, err := aclDial(t, d.addr, aclInitB, defaultIQN, "")
	expectLoginRefused(t, err, "login of "+aclInitB+", not in allowedInitiators")
	mustDial(t, d.addr, aclInitB, open, "") // the open target serves it
	if got := discovered(t, mustDial(t, d.addr, aclInitB, "", "")); !slices.Equal(got, []string{open}) {
		t.Fatalf("%s discovers %v, want only %s", aclInitB, got, open)
	}
	if got := discovered(t, mustDial(t, d.addr, aclInitA, "", "")); !slices.Equal(got, []string{defaultIQN, open}) {
		t.Fatalf("%s discovers %v", aclInitA, got)
	}

	// libiscsi, an independent initiator, under each name.
	inq := requireLibiscsi(t, "iscsi-inq")
	url := d.url(defaultIQN, testLUN)
	if out, err := runTool(t, 30*time.Second, inq, "-i", aclInitA, url); err != nil || !strings.Contains(out, "Vendor") {
		t.Fatalf("iscsi-inq as %s: %v\n%s", aclInitA, err, out)
	}
	if out, err := runTool(t, 30*time.Second, inq, "-i", aclInitB, url); err == nil {
		t.Fatalf("iscsi-inq as %s, not in allowedInitiators, succeeded:\n%s", aclInitB, out)
	} else {
		t.Logf("iscsi-inq as %s refused: %v: %s", aclInitB, err, strings.TrimSpace(out))
	}
}
