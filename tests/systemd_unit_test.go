package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unitPath is the packaged systemd unit, relative to this directory.
const unitPath = "../scripts/systemd/atgtd.service"

// TestSystemdUnit checks scripts/systemd/atgtd.service: systemd-analyze accepts it
// (with the atgtd under test in place of /usr/bin/atgtd), it is a notify unit with the
// packaged paths, reload by SIGHUP, an open file limit that covers the default
// connection cap and no device nodes unless the admin opts in, and its ExecStart line,
// with the packaged paths swapped for temporary ones, starts atgtd.
func TestSystemdUnit(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "systemd")
	raw, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	keys := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	const execStart = "/usr/bin/atgtd -config /etc/atgt/atgt.json -data /var/lib/atgt"
	for k, want := range map[string]string{
		"Type":            "notify",
		"ExecStart":       execStart,
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"StateDirectory":  "atgt",
		"PrivateDevices":  "yes",
		"ProtectSystem":   "strict",
		"NoNewPrivileges": "yes",
		"ReadWritePaths":  "/etc/atgt",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	// atgtd warns below maxConnections (default 4096) per portal plus 256.
	if n, err := strconv.Atoi(strings.Join(keys["LimitNOFILE"], "")); err != nil || n < 4096+256 {
		t.Errorf("LimitNOFILE=%q, want at least %d", keys["LimitNOFILE"], 4096+256)
	}

	if buildErr != nil {
		t.Fatalf("building atgtd failed: %v", buildErr)
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "atgtd.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(unit, "/usr/bin/atgtd", atgtdBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(t, time.Minute, analyze, "verify", "--man=no", local); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The ExecStart line starts atgtd, its config and data directory swapped for
	// temporary ones.
	cfg := oneLunConfig(t, 16<<20)
	cfg.DataDir = "" // -data gives it, as in the unit
	cfg.Targets[0].Luns[0].Path = "lun0.img"
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath, dataDir := filepath.Join(dir, "atgt.json"), filepath.Join(dir, "state")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(strings.NewReplacer("/etc/atgt/atgt.json", cfgPath, "/var/lib/atgt", dataDir).Replace(execStart))[1:]
	startDaemonArgs(t, args...)
	if _, err := os.Stat(filepath.Join(dataDir, "lun0.img")); err != nil {
		t.Fatalf("the LUN file is not in the -data directory: %v", err)
	}
}
