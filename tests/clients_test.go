package tests

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/backend/faults"
)

// TestDefaultConfigClients starts atgtd with its embedded default configuration and
// checks what libiscsi's small clients see: discovery, INQUIRY and READ CAPACITY(16)
// of the 1 GiB LUN 0.
func TestDefaultConfigClients(t *testing.T) {
	ls := requireLibiscsi(t, "iscsi-ls")
	inq := requireLibiscsi(t, "iscsi-inq")
	rc16 := requireLibiscsi(t, "iscsi-readcapacity16")
	d := startDaemon(t)

	if len(d.luns) == 0 || !strings.Contains(strings.Join(d.luns, "\n"), defaultIQN) {
		t.Errorf("atgtd printed no \"target %s lun ...\" line before ready; stdout:\n%s", defaultIQN, d.stdout)
	}

	t.Run("iscsi-ls", func(t *testing.T) {
		// iscsi-ls -s prints, per target and LUN:
		//   Target:iqn.2026-11.dev.atgt:default Portal:127.0.0.1:3260,1
		//   Lun:0    Type:DIRECT_ACCESS (Size:1023M)
		out, err := runTool(t, 30*time.Second, ls, "-s", "iscsi://"+d.addr)
		if err != nil {
			t.Fatalf("iscsi-ls: %v\n%s", err, out)
		}
		t.Logf("iscsi-ls output:\n%s", out)
		if !regexp.MustCompile(`(?m)^Target:` + regexp.QuoteMeta(defaultIQN) + `\s+Portal:`).MatchString(out) {
			t.Errorf("iscsi-ls does not list target %s", defaultIQN)
		}
		lunRe := regexp.MustCompile(fmt.Sprintf(`(?m)^Lun:%d\s+Type:DIRECT_ACCESS\b`, testLUN))
		if !lunRe.MatchString(out) {
			t.Errorf("iscsi-ls does not list Lun:%d as DIRECT_ACCESS", testLUN)
		}
	})

	t.Run("iscsi-inq", func(t *testing.T) {
		// iscsi-inq prints "Field:value" lines, among them
		//   Peripheral Device Type:DIRECT_ACCESS
		//   Vendor:IET
		//   Product:VIRTUAL-DISK
		//   Revision:0001
		out, err := runTool(t, 30*time.Second, inq, d.url(defaultIQN, testLUN))
		if err != nil {
			t.Fatalf("iscsi-inq: %v\n%s", err, out)
		}
		t.Logf("iscsi-inq output:\n%s", out)
		f := fieldLines(out)
		if f["Peripheral Device Type"] != "DIRECT_ACCESS" {
			t.Errorf("Peripheral Device Type = %q, want DIRECT_ACCESS", f["Peripheral Device Type"])
		}
		for _, k := range []string{"Vendor", "Product", "Revision"} {
			if f[k] == "" {
				t.Errorf("iscsi-inq shows no %s", k)
			}
		}
	})

	t.Run("iscsi-readcapacity16", func(t *testing.T) {
		// iscsi-readcapacity16 prints
		//   RETURNED LOGICAL BLOCK ADDRESS:2097151
		//   LOGICAL BLOCK LENGTH IN BYTES:512
		//   ...
		//   Total size:1073741824
		out, err := runTool(t, 30*time.Second, rc16, d.url(defaultIQN, testLUN))
		if err != nil {
			t.Fatalf("iscsi-readcapacity16: %v\n%s", err, out)
		}
		t.Logf("iscsi-readcapacity16 output:\n%s", out)
		f := fieldLines(out)
		want := map[string]string{
			"RETURNED LOGICAL BLOCK ADDRESS": "2097151", // LBA count 2097152, 1 GiB / 512
			"LOGICAL BLOCK LENGTH IN BYTES":  "512",
			"Total size":                     "1073741824",
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("%s = %q, want %q", k, f[k], v)
			}
		}
	})
}

// fieldLines parses "Key:value" lines (the format of iscsi-inq and
// iscsi-readcapacity16); the first colon splits, values are trimmed, the first
// occurrence of a key wins.
func fieldLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; !dup {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestQemuImgRoundTrip writes 64 MiB of random data to a 64 MiB LUN with qemu-img and
// reads it back: the copy must be byte-identical.
func TestQemuImgRoundTrip(t *testing.T) {
	qemu := requireTool(t, "qemu-img", "qemu-utils qemu-block-extra")
	const size = 64 << 20
	// Debug logging records the negotiated digests, which the digest case checks.
	d := startDaemonConfig(t, oneLunConfig(t, size), "-log-level", "debug")

	dir := t.TempDir()
	in := filepath.Join(dir, "in.raw")
	data := make([]byte, size)
	rnd := rand.NewChaCha8([32]byte{'a', 't', 'g', 't'})
	_, _ = rnd.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("plain", func(t *testing.T) {
		qemuRoundTrip(t, qemu, d.url(defaultIQN, testLUN), data, dir)
	})
	// QEMU's iSCSI driver can ask for CRC32C header digests (libiscsi never offers data
	// digests); the same copy must survive them.
	t.Run("header-digest", func(t *testing.T) {
		opts := fmt.Sprintf("driver=iscsi,transport=tcp,portal=%s,target=%s,lun=%d,header-digest=crc32c", d.addr, defaultIQN, testLUN)
		qemuRoundTrip(t, qemu, opts, data, dir)
		if !strings.Contains(d.stderr.String(), "header_digest=true") {
			t.Fatal("no session negotiated HeaderDigest=CRC32C (no \"negotiated: ... header_digest=true\" in the daemon's log)")
		}
	})
}

// TestQemuImgWorkerPanics is TestQemuImgRoundTrip on a LUN whose injected faults panic
// 1% of its IO workers' backend calls (issue 12): each crash must be invisible to
// qemu-img (the worker restarted, its IO retried once), every copy byte-identical, and
// the target's log must show the restarts and retries. The faults' draws are seeded
// (faultSeed) with a seed whose firings are far apart, so that a retry, which comes
// within a few calls of the crash, never meets a second one: with independent draws a
// retry would fail too once in a hundred crashes, and qemu-img would see that
// (HARDWARE ERROR), which is the documented outcome but not what this test shows.
func TestQemuImgWorkerPanics(t *testing.T) {
	qemu := requireTool(t, "qemu-img", "qemu-utils qemu-block-extra")
	const (
		size  = 64 << 20
		p     = 0.01
		draws = 600 // more backend calls than the round trips below make
	)
	seed, firings := spacedSeed(p, draws, 40)
	t.Logf("fault seed %d: the first %d draws fire at %v", seed, draws, firings)
	cfg := oneLunConfig(t, size)
	cfg.Targets[0].Luns[0].Faults = []testFault{{Op: "any", Kind: "panic", Probability: p}}
	cfg.Targets[0].Luns[0].FaultSeed = &seed
	d := startDaemonConfig(t, cfg, "-log-level", "warn")

	dir := t.TempDir()
	data := make([]byte, size)
	rnd := rand.NewChaCha8([32]byte{'p', 'a', 'n', 'i', 'c'})
	_, _ = rnd.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "in.raw"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	restarts := func() int {
		return strings.Count(d.stderr.String(), "IO worker failed; restarted it and retrying its IO")
	}
	// Each round trip makes about 75 backend calls: go on until three crashes.
	trips := 0
	for trips < 6 && restarts() < 3 {
		qemuRoundTrip(t, qemu, d.url(defaultIQN, testLUN), data, dir)
		trips++
	}
	log := d.stderr.String()
	failed := strings.Count(log, "answering its IO CHECK CONDITION")
	t.Logf("%d round trips of 64 MiB, byte-identical; worker restarts with the IO retried: %d; IO answered CHECK CONDITION: %d",
		trips, restarts(), failed)
	if restarts() == 0 {
		t.Fatal("no IO worker restart in the target's log: the injected panics did not fire")
	}
	if failed > 0 {
		t.Fatalf("%d IO answered CHECK CONDITION after a crash: the retry failed", failed)
	}
}

// spacedSeed returns the first seed whose first n draws (as faults.Seeded makes them)
// fire at probability p at least three times, first within the first gap draws, and
// never twice within gap draws; and the draws that fire.
func spacedSeed(p float64, n, gap int) (uint64, []int) {
	for seed := uint64(1); ; seed++ {
		r := faults.Seeded(seed)
		var fire []int
		ok := true
		for i := range n {
			if r.Float64() < p {
				if (len(fire) == 0 && i >= gap) || (len(fire) > 0 && i-fire[len(fire)-1] < gap) {
					ok = false
					break
				}
				fire = append(fire, i)
			}
		}
		if ok && len(fire) >= 3 {
			return seed, fire
		}
	}
}

// qemuRoundTrip copies in onto target with qemu-img and back, and compares. target is
// an iscsi:// URL, or --image-opts options when it starts with "driver=".
func qemuRoundTrip(t *testing.T, qemu, target string, data []byte, dir string) {
	size := len(data)
	in := filepath.Join(dir, "in.raw")
	outFile := filepath.Join(dir, "out.raw")
	os.Remove(outFile)
	toArgs := []string{"convert", "-n", "-f", "raw", "-O", "raw", in, target}
	fromArgs := []string{"convert", "-f", "raw", "-O", "raw", target, outFile}
	if strings.HasPrefix(target, "driver=") {
		toArgs = []string{"convert", "-n", "-f", "raw", in, "--target-image-opts", target}
		fromArgs = []string{"convert", "--image-opts", target, "-O", "raw", outFile}
	}
	hint := func(out string) string {
		if strings.Contains(out, "Unknown protocol") || strings.Contains(out, "Unknown driver") {
			return "\n(qemu-img has no iscsi driver: install qemu-block-extra (or run scripts/install-test-deps.sh))"
		}
		return ""
	}
	out, err := runTool(t, 2*time.Minute, qemu, toArgs...)
	if err != nil {
		t.Fatalf("qemu-img convert to iSCSI: %v\n%s%s", err, out, hint(out))
	}
	out, err = runTool(t, 2*time.Minute, qemu, fromArgs...)
	if err != nil {
		t.Fatalf("qemu-img convert from iSCSI: %v\n%s%s", err, out, hint(out))
	}
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != size {
		t.Errorf("read back %d bytes, want %d", len(got), size)
	}
	n := min(len(got), size)
	if !bytes.Equal(got[:n], data[:n]) {
		for i := range n {
			if got[i] != data[i] {
				t.Fatalf("data differs first at byte %d (block %d): got %#02x, want %#02x", i, i/512, got[i], data[i])
			}
		}
	}
}
