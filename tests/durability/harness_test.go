package durability

import (
	"errors"
	"fmt"
	"os"
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
	targetName    = "iqn.2026-11.dev.atgt:durability"
	initiatorName = "iqn.2026-11.dev.atgt:durability-test"
	blockSize     = 512
	// lunBlocks is small so that random writes overwrite each other often and a
	// whole-LUN check after every power loss is cheap.
	lunBlocks = 2048
	lunBytes  = lunBlocks * blockSize
	// stopTimeout bounds a target's shutdown.
	stopTimeout = 10 * time.Second
)

// wrapSim turns the simulator into the LUN's backend: the simulator itself, or a
// deliberately broken wrapper for the negative control.
type wrapSim func(*backend.CrashSim) backend.Backend

// honest serves the simulator as it is.
func honest(c *backend.CrashSim) backend.Backend { return c }

// powered is a running target on one crash simulator with its logged-in sessions.
type powered struct {
	svc      *target.Service
	sim      *backend.CrashSim
	sessions []*initiator.Session
}

// powerUp starts the target with one memory-sized LUN served from a crash simulator
// holding img, with IO policy policy ("" = the default), and logs in n sessions
// (distinct ISIDs) past their unit attentions.
func powerUp(t *testing.T, img []byte, o backend.CrashSimOptions, wrap wrapSim, n int, policy string) *powered {
	t.Helper()
	sim := backend.NewCrashSimFromImage(img, o)
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: targetName, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: uint64(len(img)), IoPolicy: policy}}}},
	}
	log := hclog.NewNullLogger()
	if lvl := os.Getenv("ATGT_TEST_LOG"); lvl != "" {
		log = hclog.New(&hclog.LoggerOptions{Level: hclog.LevelFromString(lvl), Output: os.Stderr})
	}
	// The memory backend the service opens is replaced (and closed by the service);
	// the simulator outlives the service so that what survived can be read.
	svc, err := target.StartWith(cfg, log, target.Options{WrapBackend: func(string, uint64, backend.Backend) backend.Backend {
		return wrap(sim)
	}})
	if err != nil {
		t.Fatalf("start target: %v", err)
	}
	p := &powered{svc: svc, sim: sim}
	t.Cleanup(func() { p.stop(t) })
	for i := range n {
		s, err := initiator.Dial(svc.Addrs()[0], initiator.Options{
			InitiatorName: initiatorName,
			TargetName:    targetName,
			ISID:          [6]byte{0x80, 0xd0, 0, 0, 0, byte(i + 1)},
			Timeout:       10 * time.Second,
		})
		if err != nil {
			t.Fatalf("login session %d: %v", i, err)
		}
		p.sessions = append(p.sessions, s)
		if err := retryUA(func() error { return s.TestUnitReady(0) }); err != nil {
			t.Fatalf("session %d: TEST UNIT READY: %v", i, err)
		}
	}
	return p
}

// stop ends the target abruptly (whatever was in flight fails) and closes the
// sessions; calling it again does nothing.
func (p *powered) stop(t *testing.T) {
	t.Helper()
	if p.svc == nil {
		return
	}
	err := p.svc.Stop(stopTimeout)
	p.svc = nil
	for _, s := range p.sessions {
		s.Close()
	}
	if err != nil {
		t.Fatalf("stop target: %v", err)
	}
}

// readAll reads the whole LUN through the first session.
func (p *powered) readAll(t *testing.T) []byte {
	t.Helper()
	const chunk = 256
	out := make([]byte, 0, lunBytes)
	for lba := uint64(0); lba < lunBlocks; lba += chunk {
		var got []byte
		err := retryUA(func() (err error) {
			got, err = p.sessions[0].Read(0, lba, chunk, blockSize)
			return err
		})
		if err != nil {
			t.Fatalf("read lba %d after restart: %v", lba, err)
		}
		out = append(out, got...)
	}
	return out
}

// retryUA runs cmd again while it fails with UNIT ATTENTION (a command that reports
// one is not executed): sessions see one after login and after another session's
// MODE SELECT.
func retryUA(cmd func() error) error {
	var err error
	for range 4 {
		err = cmd()
		var se *initiator.SCSIError
		if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention {
			return err
		}
	}
	return fmt.Errorf("still a unit attention after 4 tries: %w", err)
}
