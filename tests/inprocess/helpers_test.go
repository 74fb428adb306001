package inprocess

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

const (
	targetName    = "iqn.2026-11.dev.atgt:t"
	initiatorName = "iqn.2026-11.dev.atgt:inprocess"
	lunSize       = 64 << 20
	blockSize     = 512
)

// wrapFunc is target.Options.WrapBackend.
type wrapFunc func(target string, lun uint64, b backend.Backend) backend.Backend

// baseConfig is one target with one 64 MiB memory LUN on an ephemeral port.
func baseConfig(t testing.TB) *pb.Config {
	return &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: targetName, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: lunSize}}}},
	}
}

// fileAndMemoryConfig is baseConfig with a second LUN, 1, on a file: LUN 0 is
// memory. Their backends differ in what they can do (vectored IO, GET LBA STATUS).
func fileAndMemoryConfig(t testing.TB) *pb.Config {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns,
		&pb.Lun{Id: 1, Path: filepath.Join(t.TempDir(), "lun1.img"), SizeBytes: lunSize})
	return cfg
}

// start runs the target with cfg (each LUN's backend wrapped by wrap, if set) and stops
// it (checking that it stops) at cleanup.
func start(t testing.TB, cfg *pb.Config, wrap wrapFunc) *target.Service {
	t.Helper()
	return startWith(t, cfg, target.Options{WrapBackend: wrap})
}

// startWith is start with all of the target's options.
func startWith(t testing.TB, cfg *pb.Config, opts target.Options) *target.Service {
	t.Helper()
	log := hclog.NewNullLogger()
	if os.Getenv("ATGT_TEST_LOG") != "" {
		log = hclog.New(&hclog.LoggerOptions{Level: hclog.LevelFromString(os.Getenv("ATGT_TEST_LOG")), Output: os.Stderr})
	}
	svc, err := target.StartWith(cfg, log, opts)
	if err != nil {
		t.Fatalf("start target: %v", err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(10 * time.Second); err != nil {
			t.Errorf("stop target: %v", err)
		}
	})
	return svc
}

// isid returns a distinct ISID (random qualifier format) for test n.
func isid(n int) [6]byte { return [6]byte{0x80, 0x12, 0x34, 0, byte(n >> 8), byte(n)} }

// dial logs in to targetName, filling the names and a 10s timeout.
func dial(t *testing.T, addr string, o initiator.Options) *initiator.Session {
	t.Helper()
	if o.InitiatorName == "" {
		o.InitiatorName = initiatorName
	}
	if o.TargetName == "" && !o.Discovery {
		o.TargetName = targetName
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	s, err := initiator.Dial(addr, o)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ready clears the power-on unit attention a new nexus may report first, so later
// assertions see only the condition under test.
func ready(t *testing.T, s *initiator.Session, lun uint64) {
	t.Helper()
	for range 3 {
		err := s.TestUnitReady(lun)
		if err == nil {
			return
		}
		var se *initiator.SCSIError
		if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention {
			t.Fatalf("TEST UNIT READY lun %d: %v", lun, err)
		}
	}
	t.Fatalf("lun %d keeps reporting unit attentions", lun)
}

// randomData returns n reproducible random bytes.
func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'd'}).Read(b)
	return b
}

// expectSense asserts err is a CHECK CONDITION with the given key (and ASC if asc >= 0).
func expectSense(t *testing.T, what string, err error, key uint8, asc int) {
	t.Helper()
	var se *initiator.SCSIError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want CHECK CONDITION key %#x", what, err, key)
	}
	if se.Status != scsi.StatusCheckCondition || se.Key() != key || (asc >= 0 && int(se.ASC()) != asc) {
		t.Fatalf("%s: got %v, want CHECK CONDITION key %#x asc %#x", what, se, key, asc)
	}
}

// mustReadBack reads len(want) bytes at lba and compares.
func mustReadBack(t *testing.T, s *initiator.Session, lun, lba uint64, want []byte) {
	t.Helper()
	got, err := s.Read(lun, lba, uint32(len(want)/blockSize), blockSize)
	if err != nil {
		t.Fatalf("read lun %d lba %d: %v", lun, lba, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("read lun %d lba %d: %d bytes differ from what was written, first at byte %d", lun, lba, len(want), i)
	}
}
