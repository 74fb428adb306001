package tests

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// buildCmd builds ./cmd/<name> into the test's temporary directory.
func buildCmd(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := buildCommand("./cmd/"+name, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEmbedExampleProgram runs cmd/atgt-embed-example, which hosts a target in its own
// ActorSystem with its own copy-on-write backend over a base file: an initiator reads
// the base through it, writes (unaligned to the overlay's chunks, FUA and not),
// reads its writes back beside untouched base data, and after a clean stop the base
// file is byte for byte what it was.
func TestEmbedExampleProgram(t *testing.T) {
	bin := buildCmd(t, "atgt-embed-example")
	const size = 8 << 20
	base := make([]byte, size)
	for i := range base {
		base[i] = byte(i*13 + i>>9)
	}
	basePath := filepath.Join(t.TempDir(), "golden.img")
	if err := os.WriteFile(basePath, base, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(base)
	fi, _ := os.Stat(basePath)

	ready := make(chan string, 1)
	stdout := &lineWriter{onLine: func(line string) {
		if addr, ok := strings.CutPrefix(line, "ready portal="); ok {
			ready <- addr
		}
	}}
	stderr := &tailBuffer{max: 1 << 20}
	cmd := exec.Command(bin, "-base", basePath, "-portal", "127.0.0.1:0", "-data", t.TempDir(), "-log-level", "info")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		exited = true
		t.Fatalf("the example exited before it was ready: %v", err)
	case <-time.After(readyTimeout):
		t.Fatalf("no ready line within %v", readyTimeout)
	}
	if !strings.Contains(stdout.String(), "target iqn.2026-11.dev.atgt:embed-example lun 0 base "+basePath+" size 8388608") ||
		!strings.Contains(stdout.String(), "target iqn.2026-11.dev.atgt:embed-example lun 1 base "+basePath+" size 8388608") {
		t.Fatalf("the example does not report its LUN over the base file:\n%s", stdout)
	}

	s, err := initiator.Dial(addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:embed-test",
		TargetName: "iqn.2026-11.dev.atgt:embed-example", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.TestUnitReady(0) // the unit attention a new session gets first
	if blocks, bs, err := s.ReadCapacity16(0); err != nil || blocks != size/512 || bs != 512 {
		t.Fatalf("capacity %d blocks of %d (%v), want the base's %d of 512", blocks, bs, err, size/512)
	}
	read := func(lba uint64, blocks uint32) []byte {
		t.Helper()
		got, err := s.Read(0, lba, blocks, 512)
		if err != nil {
			t.Fatalf("read %d blocks at %d: %v", blocks, lba, err)
		}
		return got
	}
	if !bytes.Equal(read(0, 64), base[:64*512]) {
		t.Fatal("the LUN does not read as its base file")
	}
	// Block 3 (inside the overlay's first 4 KiB chunk), blocks 7-8 (across chunks),
	// and 100-131 written with FUA.
	model := append([]byte(nil), base...)
	for _, w := range []struct {
		lba    uint64
		blocks int
		fua    bool
	}{{3, 1, false}, {7, 2, false}, {100, 32, true}} {
		data := bytes.Repeat([]byte{byte(w.lba)}, w.blocks*512)
		if err := s.Write(0, w.lba, data, 512, w.fua); err != nil {
			t.Fatalf("write %d blocks at %d: %v", w.blocks, w.lba, err)
		}
		copy(model[w.lba*512:], data)
	}
	if err := s.SyncCache(0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(0, 256), model[:256*512]) {
		t.Fatal("the LUN does not read back the writes beside the base data")
	}
	if !bytes.Equal(read(size/512-8, 8), base[size-8*512:]) {
		t.Fatal("the base's last blocks do not read through")
	}
	// LUN 1, which the program added through the Go API after its start, is a second
	// overlay over the same base: listed, and reading the base, not LUN 0's writes.
	if luns, err := s.ReportLUNs(0); err != nil || len(luns) != 2 || luns[1] != 1 {
		t.Fatalf("REPORT LUNS = %v, %v; want [0 1]", luns, err)
	}
	s.TestUnitReady(1) // its first command from this session: POWER ON
	if got, err := s.Read(1, 0, 8, 512); err != nil || !bytes.Equal(got, base[:8*512]) {
		t.Fatalf("LUN 1 does not read as the base file: %v", err)
	}
	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("the example exited with %v on SIGTERM, want 0", err)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("the example still runs %v after SIGTERM", stopTimeout)
	}
	if !strings.Contains(stdout.String(), "stopped") {
		t.Fatalf("no clean stop reported:\n%s", stdout)
	}
	after, err := os.ReadFile(basePath)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(after) != sum {
		t.Fatal("the base file changed")
	}
	if fi2, _ := os.Stat(basePath); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the base file's modification time changed: %v -> %v", fi.ModTime(), fi2.ModTime())
	}
}
