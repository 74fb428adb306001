package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// writeFile0600 writes a file of the test with mode 0600 (configs and secrets).
func writeFile0600(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitStderr waits up to 10 s for atgtd's stderr to contain s, and reports whether
// it did.
func (d *daemon) waitStderr(s string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.stderr.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// TestRelativeConfigKeepsSecretFile: with a relative -config (as an administrator
// types it, or the default atgt-data/atgt.json), an admin change saves a relative
// CHAP secretFile exactly as written, so that SIGHUP and the next start still find
// the secret (before, the config's directory was prefixed at every save:
// etc/t.secret, then etc/etc/t.secret).
func TestRelativeConfigKeepsSecretFile(t *testing.T) {
	const iqn = "iqn.2026-11.dev.atgt:rel"
	const secret = "RelativeSecret01"
	dir := t.TempDir()
	writeFile0600(t, filepath.Join(dir, "etc", "t.secret"), secret+"\n")
	writeFile0600(t, filepath.Join(dir, "etc", "atgt.json"), `{"portals": ["127.0.0.1:0"], "dataDir": "var",
  "targets": [{"name": "`+iqn+`", "chap": {"user": "host", "secretFile": "t.secret"},
    "luns": [{"id": 0, "path": "t.img", "sizeBytes": "1048576"}]}]}`)
	sock := filepath.Join(dir, "var", "atgtd.sock")
	login := func(d *daemon) {
		t.Helper()
		s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:host", TargetName: iqn,
			Chap: &initiator.Chap{User: "host", Secret: []byte(secret)}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("CHAP login with the secret file: %v", err)
		}
		s.Close()
	}
	d := startDaemonIn(t, dir, "-config", "etc/atgt.json", "-log-level", "info")
	login(d)
	d.mustCtl(t, sock, "lun", "add", "-target", iqn, "-id", "1", "-path", "u.img", "-size", "1048576")
	saved, err := os.ReadFile(filepath.Join(dir, "etc", "atgt.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Targets []struct {
			Chap struct {
				SecretFile string `json:"secretFile"`
			} `json:"chap"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(saved, &file); err != nil || len(file.Targets) != 1 || file.Targets[0].Chap.SecretFile != "t.secret" {
		t.Fatalf("the saved config does not keep secretFile as written (\"t.secret\"):\n%s", saved)
	}
	if out := d.mustCtl(t, sock, "config", "show"); !strings.Contains(out, `"t.secret"`) {
		t.Fatalf("config show does not show secretFile as written:\n%s", out)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !d.waitStderr("SIGHUP: config reloaded") {
		t.Fatalf("atgtd logged no SIGHUP reload within 10 s:\n%s", d.stderr)
	}
	if strings.Contains(d.stderr.String(), "not applied") {
		t.Fatalf("SIGHUP after an admin change was refused:\n%s", d.stderr)
	}
	// A hand edit applied by SIGHUP leaves the administrator's file as written: no
	// reformatting, no version rotated.
	cfgPath := filepath.Join(dir, "etc", "atgt.json")
	edited := `{"portals": ["127.0.0.1:0"], "dataDir": "var",
  "targets": [{"name": "` + iqn + `", "chap": {"user": "host", "secretFile": "t.secret"},
    "luns": [{"id": 0, "path": "t.img", "sizeBytes": "1048576"}, {"id": 1, "path": "u.img", "sizeBytes": "1048576"},
             {"id": 2, "path": "w.img", "sizeBytes": "1048576"}]}]}
`
	writeFile0600(t, cfgPath, edited)
	versions, _ := filepath.Glob(cfgPath + ".*")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !d.waitStderr("add lun 2 of") {
		t.Fatalf("the SIGHUP did not add LUN 2:\n%s", d.stderr)
	}
	if got, err := os.ReadFile(cfgPath); err != nil || string(got) != edited {
		t.Errorf("the SIGHUP rewrote the administrator's file (%v):\n%s", err, got)
	}
	if after, _ := filepath.Glob(cfgPath + ".*"); len(after) != len(versions) {
		t.Errorf("the SIGHUP rotated a version of the unchanged file: %v, before %v", after, versions)
	}
	d.stop(t)
	d.stopped = true

	d = startDaemonIn(t, dir, "-config", "etc/atgt.json")
	login(d)
}

// attachLoop attaches a loop device to a fresh sparse file of size bytes and detaches
// it at test end; it fails (never skips) without root or losetup.
func attachLoop(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("a loop device needs root")
	}
	losetup := requireTool(t, "losetup", "util-linux")
	img := filepath.Join(t.TempDir(), "loop.img")
	makeSparse(t, img, size, 0o600)
	out, err := exec.Command(losetup, "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -f --show: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// runDaemonToExit runs atgtd expecting it to fail its start, and returns its
// combined output.
func runDaemonToExit(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, atgtdBin, args...).CombinedOutput()
	t.Logf("$ atgtd %s  (err=%v)\n%s", strings.Join(args, " "), err, out)
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("atgtd %s: %v, want exit 1", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestMissingStoreNotCreated: a LUN's file is created only for a new LUN that gives a
// size, and the creation is logged; a path under /dev that does not exist, or one
// without a size, is refused by `lun add` naming the LUN and path and creates nothing;
// a store served before that is missing at the next start, or a missing /dev path,
// is served NOT READY (a warning naming the LUN and path; `luns` shows it missing)
// instead of failing the start or being served as a blank disk; `luns` shows a block
// device as "block".
func TestMissingStoreNotCreated(t *testing.T) {
	const iqn = "iqn.2026-11.dev.atgt:stores"
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "atgt.json")
	writeFile0600(t, cfg, `{"portals": ["127.0.0.1:0"], "dataDir": "`+dataDir+`",
  "targets": [{"name": "`+iqn+`", "luns": [{"id": 0, "path": "a.img", "sizeBytes": "1048576"}]}]}`)
	sock := filepath.Join(dataDir, "atgtd.sock")
	d := startDaemonArgs(t, "-config", cfg, "-log-level", "info")
	if !d.waitStderr("created the LUN's file") || !strings.Contains(d.stderr.String(), filepath.Join(dataDir, "a.img")) {
		t.Errorf("no info line names the LUN file created:\n%s", d.stderr)
	}

	typo := fmt.Sprintf("/dev/atgt-test-typo-%d", os.Getpid())
	t.Cleanup(func() { os.Remove(typo) })
	_, errOut, code := d.ctl(t, sock, "lun", "add", "-target", iqn, "-id", "1", "-path", typo, "-size", "1048576")
	if code != 1 || !strings.Contains(errOut, typo) || !strings.Contains(errOut, ".path") {
		t.Errorf("lun add of a missing /dev path: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lun add created %s (stat: %v)", typo, err)
	}
	_, errOut, code = d.ctl(t, sock, "lun", "add", "-target", iqn, "-id", "2", "-path", "b.img")
	if code != 1 || !strings.Contains(errOut, "-size") || strings.Contains(errOut, "Size was given") {
		t.Errorf("lun add of a missing file without -size: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "b.img")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused lun add left its file behind (stat: %v)", err)
	}

	dev := attachLoop(t, 4<<20)
	d.mustCtl(t, sock, "lun", "add", "-target", iqn, "-id", "3", "-path", dev)
	var luns []struct {
		ID      uint64 `json:"id"`
		Backend string `json:"backend"`
	}
	if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "json", "luns")), &luns); err != nil {
		t.Fatal(err)
	}
	kinds := map[uint64]string{}
	for _, l := range luns {
		kinds[l.ID] = l.Backend
	}
	if kinds[0] != "file" || kinds[3] != "block" {
		t.Errorf("luns shows backends %v, want file for LUN 0 and block for the loop device (LUN 3)", kinds)
	}
	d.stop(t)
	d.stopped = true

	// The image is gone at the next start (its filesystem not mounted, say): the
	// start goes on without it (TestMissingStoreServedLater has the rest), and
	// does not create it.
	if err := os.Rename(filepath.Join(dataDir, "a.img"), filepath.Join(dataDir, "a.img.moved")); err != nil {
		t.Fatal(err)
	}
	d = startDaemonArgs(t, "-config", cfg)
	if !d.waitStderr("the LUN's store is missing") || !strings.Contains(d.stderr.String(), "targets[0].luns[0].path") ||
		!strings.Contains(d.stderr.String(), filepath.Join(dataDir, "a.img")) {
		t.Errorf("the start with a missing store does not warn naming the LUN and path:\n%s", d.stderr)
	}
	if st := lunStates(t, d, sock); st[0].State != "missing" || st[3].State != "online" {
		t.Errorf("atgtctl luns shows %+v; want LUN 0 missing, LUN 3 online", st)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "a.img")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the start re-created the missing store as a blank disk (stat: %v)", err)
	}
	d.stop(t)
	d.stopped = true
	// A block device missing at start (a typo, or a volume not yet activated) is
	// served missing too, the warning naming the LUN, field and path, and nothing
	// is created under /dev.
	devData := t.TempDir()
	devCfg := filepath.Join(t.TempDir(), "dev.json")
	writeFile0600(t, devCfg, `{"portals": ["127.0.0.1:0"], "dataDir": "`+devData+`",
  "targets": [{"name": "`+iqn+`", "luns": [{"id": 0, "backend": "memory", "sizeBytes": "1048576"},
    {"id": 1, "path": "`+typo+`", "writeCache": false}]}]}`)
	d = startDaemonArgs(t, "-config", devCfg)
	if !d.waitStderr("targets[0].luns[1].path: "+typo) || strings.Contains(d.stderr.String(), "Size was given") {
		t.Errorf("a missing block device at start: no warning names targets[0].luns[1].path and %s:\n%s", typo, d.stderr)
	}
	if st := lunStates(t, d, filepath.Join(devData, "atgtd.sock")); st[1].State != "missing" || st[1].Path != typo {
		t.Errorf("atgtctl luns shows %+v; want LUN 1 missing at %s", st[1], typo)
	}
	if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the start created %s (stat: %v)", typo, err)
	}
	d.stop(t)
	d.stopped = true
	// Restored, it is served again.
	if err := os.Rename(filepath.Join(dataDir, "a.img.moved"), filepath.Join(dataDir, "a.img")); err != nil {
		t.Fatal(err)
	}
	startDaemonArgs(t, "-config", cfg)
}

// TestLunRmRefusedUnderIO: `lun rm` without -force refuses a LUN that an initiator
// keeps busy with many outstanding reads (the target, faster than the initiator,
// holds none of them at most instants, so a count of the tasks the LUN holds let it
// be removed under the initiator), and removes it once the IO stopped for the
// in-use window; the session's reads never meet LOGICAL UNIT NOT SUPPORTED.
func TestLunRmRefusedUnderIO(t *testing.T) {
	const iqn = "iqn.2026-11.dev.atgt:busy"
	dataDir := t.TempDir()
	d := startDaemonConfig(t, map[string]any{"portals": []string{"127.0.0.1:0"}, "dataDir": dataDir,
		"targets": []map[string]any{{"name": iqn, "luns": []map[string]any{
			{"id": 0, "path": "a.img", "sizeBytes": "1048576"},
			{"id": 1, "path": "busy.img", "sizeBytes": "16777216"}}}}})
	sock := filepath.Join(dataDir, "atgtd.sock")
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:vm", TargetName: iqn,
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.TestUnitReady(1) // the power-on unit attention

	stop := make(chan struct{})
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lba := uint64(w); ; lba = (lba + 32) % 4096 {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Read(1, lba*8, 8, 512); err != nil {
					errs <- err
					return
				}
				reads.Add(1)
			}
		}()
	}
	// The in-flight counts an administrator checks before a removal show the load
	// (before, they read 0 at nearly every call: the call ran when the pipeline was
	// idle between the initiator's batches).
	var lunMax, sessMax uint64
	for range 5 {
		time.Sleep(200 * time.Millisecond)
		var stats []struct {
			ID            uint64 `json:"id"`
			TasksInFlight uint64 `json:"tasksInFlight"`
		}
		if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "json", "stats", "-target", iqn)), &stats); err != nil {
			t.Fatal(err)
		}
		for _, st := range stats {
			if st.ID == 1 {
				lunMax = max(lunMax, st.TasksInFlight)
			}
		}
		var sessions []struct {
			TasksInFlight uint64 `json:"tasksInFlight"`
		}
		if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "json", "sessions", "-target", iqn)), &sessions); err != nil {
			t.Fatal(err)
		}
		for _, se := range sessions {
			sessMax = max(sessMax, se.TasksInFlight)
		}
	}
	if lunMax == 0 || sessMax == 0 {
		t.Errorf("under 32 outstanding reads, stats showed at most %d tasks in flight on the LUN and sessions %d on the session, want some", lunMax, sessMax)
	}
	for try := range 5 {
		time.Sleep(200 * time.Millisecond)
		_, errOut, code := d.ctl(t, sock, "lun", "rm", "-target", iqn, "-id", "1")
		if code != 1 || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, "force") {
			t.Errorf("try %d: lun rm of a LUN under IO: exit %d: %s", try, code, errOut)
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a read of the busy LUN failed: %v", err)
	}
	t.Logf("%d reads", reads.Load())
	if reads.Load() == 0 {
		t.Fatal("no read completed")
	}
	if t.Failed() {
		return
	}
	time.Sleep(5500 * time.Millisecond) // the in-use window after the last command
	d.mustCtl(t, sock, "lun", "rm", "-target", iqn, "-id", "1")
}

// TestRefusedLoginLogged: at the default log level, a login refused by the access
// list, for an unknown target, or for a wrong CHAP secret is logged at warn in one
// line naming the initiator, the target, the portal and the reason; the secrets
// never appear.
func TestRefusedLoginLogged(t *testing.T) {
	const acl, chapIQN = "iqn.2026-11.dev.atgt:acl", "iqn.2026-11.dev.atgt:chapped"
	const secret, wrong = "RightSecret00001", "WrongSecret00002"
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "atgt.json")
	writeFile0600(t, cfg, `{"portals": ["127.0.0.1:0"], "dataDir": "`+dataDir+`", "targets": [
  {"name": "`+acl+`", "allowedInitiators": ["iqn.2026-11.dev.atgt:friend"],
   "luns": [{"id": 0, "backend": "memory", "sizeBytes": "1048576"}]},
  {"name": "`+chapIQN+`", "chap": {"user": "host", "secret": "`+secret+`"},
   "luns": [{"id": 0, "backend": "memory", "sizeBytes": "1048576"}]}]}`)
	d := startDaemonArgs(t, "-config", cfg)
	try := func(o initiator.Options) {
		t.Helper()
		o.Timeout = 10 * time.Second
		if s, err := initiator.Dial(d.addr, o); err == nil {
			s.Close()
			t.Fatalf("login of %s to %s succeeded, want refused", o.InitiatorName, o.TargetName)
		}
	}
	try(initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:stranger", TargetName: acl})
	try(initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:lost", TargetName: "iqn.2026-11.dev.atgt:nosuch"})
	try(initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:guesser", TargetName: chapIQN,
		Chap: &initiator.Chap{User: "host", Secret: []byte(wrong)}})
	for _, want := range []struct{ initiator, target, reason string }{
		{"iqn.2026-11.dev.atgt:stranger", acl, "allowedInitiators"},
		{"iqn.2026-11.dev.atgt:lost", "iqn.2026-11.dev.atgt:nosuch", "no such target"},
		{"iqn.2026-11.dev.atgt:guesser", chapIQN, "authentication failed"},
	} {
		re := regexp.MustCompile(`\[WARN\] .*login refused: (tsih=\d+ )?initiator=` + regexp.QuoteMeta(want.initiator) +
			` target=` + regexp.QuoteMeta(want.target) + ` portal=` + regexp.QuoteMeta(d.addr) + ` remote=127\.0\.0\.1:\d+ reason="[^"]*` +
			regexp.QuoteMeta(want.reason))
		deadline := time.Now().Add(5 * time.Second)
		for !re.MatchString(d.stderr.String()) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !re.MatchString(d.stderr.String()) {
			t.Errorf("no warning names the refused login of %s to %s (%s):\n%s", want.initiator, want.target, want.reason, d.stderr)
		}
	}
	if log := d.stderr.String(); strings.Contains(log, secret) || strings.Contains(log, wrong) {
		t.Errorf("the log shows a CHAP secret:\n%s", log)
	}
}

// TestFirstHourFrictions: an allowedNetworks entry that admits every address
// (0.0.0.0/0, ::/0) does not count as an access list on a non-loopback portal; config
// errors name fields as the file writes them (secretFile, allowUnauthenticated), not
// by their protobuf names; a data directory atgtd makes is mode 0700; and `-portal
// 127.0.0.1` without a port serves on 3260 without being called non-loopback.
func TestFirstHourFrictions(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.json")
	writeFile0600(t, open, `{"portals": ["0.0.0.0:0"], "dataDir": "`+filepath.Join(dir, "d1")+`",
  "targets": [{"name": "iqn.2026-11.dev.atgt:open", "allowedNetworks": ["0.0.0.0/0", "::/0"],
    "luns": [{"id": 0, "backend": "memory", "sizeBytes": "1048576"}]}]}`)
	out := runDaemonToExit(t, "-config", open)
	if !strings.Contains(out, "targets[0].allowUnauthenticated") || strings.Contains(out, "ready portal=") {
		t.Errorf("a target whose allowedNetworks admits every address was served on 0.0.0.0 without allowUnauthenticated, or the refusal does not name targets[0].allowUnauthenticated:\n%s", out)
	}

	missing := filepath.Join(dir, "missing.json")
	writeFile0600(t, missing, `{"portals": ["127.0.0.1:0"], "dataDir": "`+filepath.Join(dir, "d2")+`",
  "targets": [{"name": "iqn.2026-11.dev.atgt:c", "chap": {"user": "u", "secretFile": "nosuch.secret"},
    "luns": [{"id": 0, "backend": "memory", "sizeBytes": "1048576"}]}]}`)
	out = runDaemonToExit(t, "-config", missing)
	if !strings.Contains(out, "targets[0].chap.secretFile") || strings.Contains(out, "secret_file") {
		t.Errorf("the error does not name targets[0].chap.secretFile as the file writes it:\n%s", out)
	}

	// A start that fails after opening its LUNs (its portal is taken) leaves no LUN
	// file it created behind.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := filepath.Join(dir, "busy.json")
	writeFile0600(t, busy, `{"portals": ["`+taken.Addr().String()+`"], "dataDir": "`+filepath.Join(dir, "d4")+`",
  "targets": [{"name": "iqn.2026-11.dev.atgt:b", "luns": [{"id": 0, "path": "b.img", "sizeBytes": "1048576"}]}]}`)
	out = runDaemonToExit(t, "-config", busy)
	if !strings.Contains(out, "portals[0]") {
		t.Errorf("a taken portal: the error does not name portals[0]:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "d4", "b.img")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed start left the LUN file it created (stat: %v)", err)
	}

	dataDir := filepath.Join(dir, "new", "data")
	d := startDaemonArgs(t, "-portal", "127.0.0.1:0", "-data", dataDir)
	d.stop(t)
	d.stopped = true
	if fi, err := os.Stat(dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the data directory atgtd made: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}

	// -portal 127.0.0.1 in a network namespace of the test's own, where 3260 is free.
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "ip", "iproute2")
	if os.Geteuid() != 0 {
		t.Fatal("a network namespace needs root")
	}
	cmd := exec.Command("unshare", "-n", "--", "sh", "-c", `ip link set lo up && exec "$0" -portal 127.0.0.1 -data "$1"`,
		atgtdBin, filepath.Join(dir, "d3"))
	var stderr strings.Builder
	stdout := &lineWriter{}
	ready := make(chan string, 1)
	stdout.onLine = func(line string) {
		if strings.HasPrefix(line, "ready portal=") {
			select {
			case ready <- line:
			default:
			}
		}
	}
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	select {
	case line := <-ready:
		if line != "ready portal=127.0.0.1:3260" {
			t.Errorf("-portal 127.0.0.1: %q, want ready portal=127.0.0.1:3260", line)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("-portal 127.0.0.1 did not start:\n%s", &stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if strings.Contains(stderr.String(), "non-loopback") {
		t.Errorf("-portal 127.0.0.1 was called non-loopback:\n%s", &stderr)
	}
}
