package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// TestSighupReloadLeavesSigtermHandled: a SIGHUP reload that removes a target waits
// for its sessions to log out (5 s for one that does not); a SIGTERM during it stops
// atgtd at once (the reload is ended and undone), not after the reload.
func TestSighupReloadLeavesSigtermHandled(t *testing.T) {
	cfg := oneLunConfig(t, 4<<20)
	cfg.ShutdownGraceSeconds = 1
	const second = defaultIQN + "-b"
	cfg.Targets = append(cfg.Targets, testTarget{Name: second,
		Luns: []testLun{{ID: 0, Path: filepath.Join(cfg.DataDir, "b.img"), SizeBytes: "4194304", Workers: 1}}})
	path := filepath.Join(t.TempDir(), "atgt.json")
	write := func(c testConfig) {
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	d := startDaemonArgs(t, "-config", path)
	// A session to the second target that does not answer the request to log out.
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:stays", TargetName: second,
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg.Targets = cfg.Targets[:1]
	write(cfg)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // the reload waits for the session to log out
	start := time.Now()
	d.stopped = true
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("atgtd did not exit within 20 s of SIGTERM")
	}
	took := time.Since(start)
	t.Logf("SIGTERM to exit: %v (%v)", took.Round(time.Millisecond), d.err)
	if d.err != nil {
		t.Errorf("atgtd did not exit cleanly: %v", d.err)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("SIGTERM during a reload took %v to stop atgtd: it waited for the reload", took)
	}
}
