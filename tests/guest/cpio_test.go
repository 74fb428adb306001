package guest

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The per-boot archive must be one cpio(1) reads back whole: names, contents, trailer.
func TestNewcArchive(t *testing.T) {
	a := newcArchive(map[string][]byte{"test.sh": []byte("echo hi\n"), "b": []byte("12345")})
	if len(a)%4 != 0 {
		t.Fatalf("archive of %d bytes is not 4-byte aligned", len(a))
	}
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Fatalf("cpio not found: install cpio (or run scripts/install-test-deps.sh)")
	}
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-id", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(a)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	out, err := exec.Command("sh", "-c", "cd "+dir+" && ls && cat test.sh b").Output()
	if err != nil || strings.TrimSpace(string(out)) != "b\ntest.sh\necho hi\n12345" {
		t.Fatalf("extracted: %q, %v", out, err)
	}
}
