// Package guest boots a Linux guest under QEMU's TCG emulation so that tests can
// drive atgtd with the initiator most users run: the kernel's iscsi_tcp with
// open-iscsi's tools. This machine's kernel has no iSCSI initiator and KVM is not
// usable, so the guest is Debian's own kernel with a small initramfs, built by
// scripts/build-test-guest.sh from Debian packages and cached between runs.
//
// A boot runs one shell script (sourced by the guest's /init, tests/guest/init.sh)
// and returns the "ATGT-RESULT name=value" lines it printed on the second serial
// port; the console (first serial port) is kept for the test log. The guest's only
// network is QEMU's user network with restrict=on: its 10.0.2.100:3260 (TargetPortal)
// reaches atgtd on 127.0.0.1 through a guestfwd rule that runs socat per connection,
// so that the guest can open as many connections as iSCSI needs, also to an atgtd
// restarted on the same port.
package guest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TargetPortal is the address the guest connects to for the target.
const TargetPortal = "10.0.2.100:3260"

// Guest is a built guest: a kernel and its initramfs.
type Guest struct {
	Kernel, Initrd string
	// Versions lists the packages the guest was built from, one "name version" a line.
	Versions string
}

var (
	buildOnce  sync.Once
	built      *Guest
	buildError error
)

// CacheDir is where built guests are kept: $ATGT_GUEST_CACHE, else
// $XDG_CACHE_HOME/atgt-guest, else ~/.cache/atgt-guest.
func CacheDir() string {
	if d := os.Getenv("ATGT_GUEST_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "atgt-guest")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "atgt-guest")
	}
	return filepath.Join(os.TempDir(), "atgt-guest")
}

// Build returns the guest, building it once per process (the script reuses a cached
// guest whose packages have not changed). It fails the test, saying what to install,
// when a tool is missing.
func Build(t testing.TB) *Guest {
	t.Helper()
	buildOnce.Do(func() { built, buildError = build() })
	if buildError != nil {
		t.Fatalf("building the test guest: %v", buildError)
	}
	return built
}

func build() (*Guest, error) {
	for _, tool := range []struct{ name, pkg string }{
		{"qemu-system-x86_64", "qemu-system-x86"}, {"socat", "socat"}, {"cpio", "cpio"}, {"depmod", "kmod"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			return nil, fmt.Errorf("%s not found: install %s (or run scripts/install-test-deps.sh)", tool.name, tool.pkg)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "build-test-guest.sh")
	start := time.Now()
	cmd := exec.Command(script, CacheDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := lines[len(lines)-1]
	versions, err := os.ReadFile(filepath.Join(dir, "versions.txt"))
	if err != nil {
		return nil, err
	}
	g := &Guest{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"), Versions: string(versions)}
	fmt.Fprintf(os.Stderr, "test guest %s ready in %v\n", dir, time.Since(start).Round(time.Millisecond))
	return g, nil
}

// Options describe one boot.
type Options struct {
	// Script is sourced by the guest's /init after the network is up; it reports
	// with the shell functions result, event and run (tests/guest/init.sh).
	Script string
	// Target is atgtd's portal on this machine, 127.0.0.1:PORT.
	Target string
	// Timeout bounds the boot; QEMU is killed after it (default 3 minutes).
	Timeout time.Duration
	// OnEvent is called, from the reading goroutine, for each "ATGT-EVENT name"
	// line as it arrives, so that a test can act while the guest runs.
	OnEvent func(name string)
	// OnResult is called, likewise, for each name=value of a result line.
	OnResult func(name, value string)
}

// Result is what a boot reported.
type Result struct {
	// Values holds each "ATGT-RESULT name=value"; a later line replaces an earlier.
	Values map[string]string
	// Lines are all the lines of the result port, in order.
	Lines []string
	// Console is the guest's console output (kernel log and the script's output).
	Console string
	// Done: the script ran to its end and the guest powered off.
	Done     bool
	Duration time.Duration
}

// Get returns the value of name, failing the test when the guest did not report it.
func (r *Result) Get(t testing.TB, name string) string {
	t.Helper()
	v, ok := r.Values[name]
	if !ok {
		t.Fatalf("the guest reported no %s", name)
	}
	return v
}

// Boot runs the guest with o.Script and returns its results. The console is written
// to the test log when the test fails.
func (g *Guest) Boot(t testing.TB, o Options) *Result {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.img")
	if err := writeInitrd(initrd, g.Initrd, map[string][]byte{"test.sh": []byte(o.Script)}); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(dir, "console.log")
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	args := []string{
		"-accel", "tcg", "-cpu", "max", "-m", "384", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", g.Kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=1 quiet loglevel=6 8250.nr_uarts=2",
		"-serial", "file:" + console, "-serial", "stdio",
		"-netdev", "user,id=n0,restrict=on,guestfwd=tcp:" + TargetPortal + "-cmd:socat - TCP:" + o.Target,
		"-device", "virtio-net-pci,netdev=n0,romfile=",
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu-system-x86_64: %v", err)
	}
	r := &Result{Values: map[string]string{}}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		r.Lines = append(r.Lines, line)
		switch {
		case strings.HasPrefix(line, "ATGT-RESULT "):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "ATGT-RESULT ")) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					r.Values[k] = v
					if o.OnResult != nil {
						o.OnResult(k, v)
					}
				}
			}
		case strings.HasPrefix(line, "ATGT-EVENT "):
			if o.OnEvent != nil {
				o.OnEvent(strings.TrimSpace(strings.TrimPrefix(line, "ATGT-EVENT ")))
			}
		case line == "ATGT-DONE":
			r.Done = true
		}
	}
	err = cmd.Wait()
	r.Duration = time.Since(start)
	b, _ := os.ReadFile(console)
	r.Console = string(b)
	t.Logf("guest boot: %v, done=%v, qemu: %v %s", r.Duration.Round(time.Millisecond), r.Done, err, stderr.String())
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("guest console:\n%s\nguest results:\n%s", r.Console, strings.Join(r.Lines, "\n"))
		}
	})
	if ctx.Err() != nil {
		t.Errorf("the guest did not power off within %v; QEMU killed", o.Timeout)
	} else if !r.Done {
		t.Errorf("the guest's script did not finish (qemu: %v)", err)
	}
	return r
}
