package backend

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// lockHelperEnv makes the test binary a second process that opens a backend and
// holds it until its stdin closes.
const lockHelperEnv = "ATGT_BACKEND_LOCK_HELPER"

// lockHelper is the second process of TestStoreLockAcrossProcesses, run as the test
// binary with lockHelperEnv naming the file: it opens the backend and holds it until
// its stdin closes.
func lockHelper(path string) {
	b, err := Open(Options{Path: path, ReadOnly: os.Getenv(lockHelperEnv+"_RO") != ""})
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("open\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	b.Close()
	os.Exit(0)
}

// holdInOtherProcess opens path in a child process, which keeps it open until the
// test ends.
func holdInOtherProcess(t *testing.T, path string, readOnly bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	if readOnly {
		cmd.Env = append(cmd.Env, lockHelperEnv+"_RO=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "open\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
}

// A file (or block device) one process serves writable cannot be opened by a second
// process, writable or read-only, and the error says it is in use; read-only openers
// share. Before, nothing locked the file, so two atgtd processes served it at once.
func TestStoreLockAcrossProcesses(t *testing.T) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		lockHelper(path)
	}
	dir := t.TempDir()
	rw, ro := filepath.Join(dir, "rw.img"), filepath.Join(dir, "ro.img")
	for _, p := range []string{rw, ro} {
		if err := os.WriteFile(p, make([]byte, 1<<16), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	holdInOtherProcess(t, rw, false)
	for _, readOnly := range []bool{false, true} {
		if b, err := Open(Options{Path: rw, ReadOnly: readOnly}); !errors.Is(err, ErrInUse) {
			if err == nil {
				b.Close()
			}
			t.Errorf("open (read-only %v) of a file another process serves: %v, want ErrInUse", readOnly, err)
		}
	}
	holdInOtherProcess(t, ro, true)
	b, err := Open(Options{Path: ro, ReadOnly: true})
	if err != nil {
		t.Fatalf("second read-only open: %v", err)
	}
	b.Close()
	if b, err := Open(Options{Path: ro}); !errors.Is(err, ErrInUse) {
		if err == nil {
			b.Close()
		}
		t.Errorf("writable open of a file another process reads: %v, want ErrInUse", err)
	}
	// Shared writers (gateway nodes, Options.Shared) coexist with each other and with
	// readers, never with an exclusive writer.
	b, err = Open(Options{Path: ro, Shared: true})
	if err != nil {
		t.Fatalf("shared writable open beside a reader: %v", err)
	}
	defer b.Close()
	if b2, err := Open(Options{Path: ro, Shared: true}); err != nil {
		t.Fatalf("second shared open: %v", err)
	} else {
		b2.Close()
	}
	if b, err := Open(Options{Path: rw, Shared: true}); !errors.Is(err, ErrInUse) {
		if err == nil {
			b.Close()
		}
		t.Errorf("shared open of a file another process serves exclusively: %v, want ErrInUse", err)
	}
	// Closing releases the lock: a file opened and closed here opens again.
	free := filepath.Join(dir, "free.img")
	for range 2 {
		b, err := Open(Options{Path: free, Size: 1 << 16, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
}
