package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is a target under test: the URL clients use and, when we know it, the PID
// whose CPU time is charged to it.
type target struct {
	Name string // "atgt" or "tgt"
	URL  string
	PID  int // 0: unknown (a target started elsewhere and no -*-pid given)
	// Procs is atgtd's "N of M": CPUs running its Go code of those available.
	Procs string
	// Admin is atgtd's admin socket (for the trace API), "" if unknown.
	Admin string
	cmd   *exec.Cmd
	kill  func()
}

// stop ends a target we started (SIGKILL for tgtd, which ignores SIGTERM; SIGTERM
// then SIGKILL for atgtd) and waits for it.
func (t *target) stop() {
	if t == nil || t.cmd == nil || t.cmd.Process == nil {
		return
	}
	if t.kill != nil {
		t.kill()
	}
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }() //nolint:errcheck // killed on purpose
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.cmd.Process.Kill() //nolint:errcheck
		<-done
	}
	t.cmd = nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childAttr puts a target in its own process group (so a ^C on the terminal
// reaches only the benchmark, which then kills it) and kills it if we die.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

const atgtIQN = "iqn.2026-11.dev.atgt:bench"
const tgtIQN = "iqn.2026-11.dev.tgt:bench"

// atgtTags are the build tags of the atgtd built here ("ceph" for -rbd).
var atgtTags = ""

// buildAtgtd builds cmd/atgtd into workDir, unless bin names a binary already.
func buildAtgtd(ctx context.Context, workDir, bin string, logf func(string, ...any)) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(workDir, "atgtd")
	logf("building atgtd (go build -tags %q ./cmd/atgtd)", atgtTags)
	b := exec.CommandContext(ctx, "go", "build", "-tags", atgtTags, "-o", bin, "./cmd/atgtd")
	b.Dir = moduleRoot()
	if out, err := b.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/atgtd: %v\n%s", err, out)
	}
	return bin, nil
}

// startAtgt builds cmd/atgtd (or uses bin) and serves file as LUN 0 of one target;
// lunFields are further fields of the LUN's config (workers, ioPolicy), cfgFields of
// the whole config (maxProcs).
func startAtgt(ctx context.Context, workDir, file string, size int64, lunFields, cfgFields map[string]any, bin string, logf func(string, ...any)) (*target, error) {
	bin, err := buildAtgtd(ctx, workDir, bin, logf)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lun := map[string]any{"id": 0, "path": file, "sizeBytes": strconv.FormatInt(size, 10)}
	for k, v := range lunFields {
		lun[k] = v
	}
	cfg := map[string]any{
		"portals": []string{fmt.Sprintf("127.0.0.1:%d", port)},
		"dataDir": filepath.Join(workDir, "atgt-data"),
		"targets": []any{map[string]any{"name": atgtIQN, "luns": []any{lun}}},
	}
	for k, v := range cfgFields {
		cfg[k] = v
	}
	cfgPath := filepath.Join(workDir, "atgt.json")
	js, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, js, 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(workDir, "atgtd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", cfgPath)
	// qd1 runs two atgtd builds on one file at once: both lock it shared.
	cmd.Env = append(os.Environ(), "ATGT_SHARED_STORES=1")
	cmd.SysProcAttr = childAttr()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{Name: "atgt", PID: cmd.Process.Pid, cmd: cmd,
		kill: func() { cmd.Process.Signal(syscall.SIGTERM) }} //nolint:errcheck
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if procs, ok := strings.CutPrefix(sc.Text(), "procs "); ok {
				t.Procs = procs // before "ready": the channel orders it before our read
			}
			if sock, ok := strings.CutPrefix(sc.Text(), "admin socket "); ok {
				t.Admin = sock
			}
			if strings.HasPrefix(sc.Text(), "ready portal=") {
				ready <- nil
			}
		}
		ready <- fmt.Errorf("atgtd exited before it was ready (see %s)", logFile.Name())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.stop()
			return nil, err
		}
	case <-time.After(30 * time.Second):
		t.stop()
		return nil, fmt.Errorf("atgtd not ready after 30 s (see %s)", logFile.Name())
	}
	t.URL = fmt.Sprintf("iscsi://127.0.0.1:%d/%s/0", port, atgtIQN)
	return t, nil
}

// startTgt starts Debian's tgtd in the foreground on a free loopback port, in its
// warm malloc state, and serves file as LUN 1 of one target open to everyone, with
// tgt's default parameters and threads (the paper and qd1 modes).
func startTgt(ctx context.Context, workDir, file string, logf func(string, ...any)) (*target, error) {
	return startTgtLUN(ctx, workDir, []string{"-b", file}, tgtOptions{}, logf)
}

// startTgtLUN is startTgt with the LUN's tgtadm backing store arguments given, and
// opts: the keys tgt's target offers and tgtd's IO threads.
func startTgtLUN(ctx context.Context, workDir string, lunArgs []string, opts tgtOptions, logf func(string, ...any)) (*target, error) {
	if _, err := exec.LookPath("tgtd"); err != nil {
		return nil, fmt.Errorf("tgtd not found (install Debian's tgt: scripts/install-bench-deps.sh)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ctl := 20000 + os.Getpid()%10000 // tgtd control port: an abstract socket name, not TCP
	logFile, err := os.Create(filepath.Join(workDir, "tgtd.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"-f", "-C", strconv.Itoa(ctl), "--iscsi", fmt.Sprintf("portal=127.0.0.1:%d", port)}
	if opts.Threads > 0 {
		args = append(args, "-t", strconv.Itoa(opts.Threads))
	}
	cmd := exec.Command("tgtd", args...)
	cmd.Env = append(os.Environ(), "MALLOC_MMAP_THRESHOLD_=16777216", "MALLOC_TRIM_THRESHOLD_=33554432")
	cmd.SysProcAttr = childAttr()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{Name: "tgt", PID: cmd.Process.Pid, cmd: cmd,
		kill: func() { cmd.Process.Signal(syscall.SIGKILL) }} //nolint:errcheck
	adm := func(args ...string) error {
		a := append([]string{"-C", strconv.Itoa(ctl), "--lld", "iscsi"}, args...)
		out, err := exec.CommandContext(ctx, "tgtadm", a...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tgtadm %s: %v: %s", strings.Join(a, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	// tgtd takes a moment to open its control socket.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err = adm("--op", "new", "--mode", "target", "--tid", "1", "-T", tgtIQN)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.stop()
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	if opts.Match {
		for _, a := range tgtParamUpdates(1) {
			if err := adm(a...); err != nil {
				t.stop()
				return nil, err
			}
		}
	}
	if err := adm(append([]string{"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1"}, lunArgs...)...); err != nil {
		t.stop()
		return nil, err
	}
	if err := adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"); err != nil {
		t.stop()
		return nil, err
	}
	// The portal is up once it accepts a connection.
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.stop()
			return nil, fmt.Errorf("tgtd portal 127.0.0.1:%d: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.URL = fmt.Sprintf("iscsi://127.0.0.1:%d/%s/1", port, tgtIQN)
	logf("tgtd pid %d control port %d", t.PID, ctl)
	return t, nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// makeBackingFile creates a size-byte file filled with a non-zero pattern (so reads
// move real page-cache pages, not holes) unless one of that size exists.
// hasRoom reports whether dir is a directory with size bytes free and a quarter of
// its space to spare.
func hasRoom(dir string, size int64) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	free := int64(st.Bavail) * st.Bsize
	return free >= size+int64(st.Blocks)*st.Bsize/4
}

func makeBackingFile(path string, size int64) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var x uint64 = 0x9e3779b97f4a7c15
	for i := 0; i < len(buf); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8; j++ {
			buf[i+j] = byte(x >> (8 * j))
		}
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		buf[0] = byte(off >> 20) // vary each MiB a little
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// warmFile reads the whole file so that it is in the page cache.
func warmFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	for {
		if _, err := f.Read(buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
