package inprocess

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestBlockDeviceShrinkLive: a LUN on a block device (a loop device) that shrinks
// while a session is logged in. A READ past the new end is CHECK CONDITION, never
// GOOD with zeros; every initiator then gets CAPACITY DATA HAS CHANGED and READ
// CAPACITY reports the new size, and commands past it are LBA OUT OF RANGE. A
// grow is noticed within a second or so the same way. It fails (never skips)
// where loop devices cannot be made: the project's test machine is root.
func TestBlockDeviceShrinkLive(t *testing.T) {
	const size = 16 << 20
	img := filepath.Join(t.TempDir(), "loop.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -f --show (needs root and /dev/loop-control): %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	resize := func(n int64) {
		t.Helper()
		if err := os.Truncate(img, n); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("losetup", "-c", dev).CombinedOutput(); err != nil {
			t.Fatalf("losetup -c: %v: %s", err, out)
		}
	}

	cfg := baseConfig(t)
	cfg.Targets[0].Luns = []*pb.Lun{{Id: 0, Path: dev}}
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(520)})
	ready(t, s, 0)
	tail := uint64(12 << 20 / blockSize)
	if err := s.Write(0, tail, randomData(9, 64<<10), blockSize, true); err != nil {
		t.Fatal(err)
	}

	resize(8 << 20)
	data, err := s.Read(0, tail, 128, blockSize)
	if err == nil {
		t.Fatalf("READ past the shrunk device's end: GOOD with %d bytes (zeros: %v)", len(data), !slices.ContainsFunc(data, func(b byte) bool { return b != 0 }))
	}
	var se *initiator.SCSIError
	if !errors.As(err, &se) || se.Key() != scsi.SenseMediumError || se.ASC() != 0x11 {
		t.Fatalf("READ past the shrunk device's end: %v, want MEDIUM ERROR 11/00", err)
	}
	waitCapacity(t, s, 8<<20/blockSize)
	_, err = s.Read(0, tail, 1, blockSize)
	expectSense(t, "READ past the new capacity", err, scsi.SenseIllegalRequest, 0x21)

	resize(size)
	waitCapacity(t, s, size/blockSize)
	if _, err := s.Read(0, tail, 128, blockSize); err != nil {
		t.Fatalf("READ in the regrown part: %v", err)
	}
}

// waitCapacity waits (5 s at most) for CAPACITY DATA HAS CHANGED and then READ
// CAPACITY(16) reporting blocks.
func waitCapacity(t *testing.T, s *initiator.Session, blocks uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	sawUA := false
	for time.Now().Before(deadline) {
		n, _, err := s.ReadCapacity16(0)
		var se *initiator.SCSIError
		switch {
		case errors.As(err, &se) && se.Key() == scsi.SenseUnitAttention && se.ASC() == 0x2A && se.ASCQ() == 0x09:
			sawUA = true
			continue
		case err != nil:
			t.Fatalf("READ CAPACITY(16): %v", err)
		case n == blocks && sawUA:
			return
		case n == blocks:
			t.Fatalf("READ CAPACITY(16) reports %d blocks without CAPACITY DATA HAS CHANGED first", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no CAPACITY DATA HAS CHANGED and %d blocks within 5 s (UA seen: %v)", blocks, sawUA)
}
