package inprocess

import (
	"encoding/binary"
	"fmt"
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

// senseCachingPC returns the Caching page MODE SENSE(10) reports for page control pc.
func senseCachingPC(t *testing.T, s *initiator.Session, pc byte) []byte {
	t.Helper()
	cdb := []byte{scsi.OpModeSense10, 0x08, pc<<6 | 0x08, 0, 0, 0, 0, 0, 255, 0}
	r, err := s.Command(0, cdb, nil, 255)
	if err != nil || r.Status != scsi.StatusGood || len(r.Data) < 8+20 {
		t.Fatalf("MODE SENSE pc=%d: %+v, %v", pc, r, err)
	}
	return r.Data[8:28]
}

// TestSavedWCESurvivesRestart saves WCE=0 with MODE SELECT SP=1 on an O_DIRECT file
// LUN, restarts the service on the same data directory, and checks that the LUN
// comes up with WCE=0 (current and saved) and that plain writes are stable writes.
func TestSavedWCESurvivesRestart(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0] = &pb.Lun{Id: 0, Path: "disk.img", SizeBytes: lunSize, DirectIo: true}

	first, err := target.StartWith(cfg, hclog.NewNullLogger(), target.Options{})
	if err != nil {
		t.Fatalf("start target: %v", err)
	}
	s := dial(t, first.Addrs()[0], initiator.Options{ISID: isid(700)})
	ready(t, s, 0)
	page := senseCachingPC(t, s, 0)
	if page[0]&0x80 == 0 || page[2]&0x04 == 0 {
		t.Fatalf("caching page % x: want PS=1 and WCE=1 (the default)", page)
	}
	param := append(make([]byte, 8), page...)
	param[8] &^= 0x80 // PS is reserved in MODE SELECT
	param[8+2] &^= 0x04
	cdb := []byte{scsi.OpModeSelect10, 0x11, 0, 0, 0, 0, 0, 0, 0, 0} // PF, SP
	binary.BigEndian.PutUint16(cdb[7:], uint16(len(param)))
	if r, err := s.Command(0, cdb, param, 0); err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("MODE SELECT SP=1: %+v, %v", r, err)
	}
	s.Close()
	if err := first.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if st, err := filepath.Glob(filepath.Join(cfg.DataDir, "*.modes.json")); err != nil || len(st) != 1 {
		t.Fatalf("saved modes file: %v, %v", st, err)
	}

	var c backend.Counters
	svc := start(t, cfg, func(_ string, _ uint64, b backend.Backend) backend.Backend {
		return backend.WithCounters(b, &c)
	})
	s = dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(701)})
	ready(t, s, 0)
	for _, tt := range []struct {
		name string
		pc   byte
		want bool
	}{{"current", 0, false}, {"default", 2, true}, {"saved", 3, false}} {
		if got := senseCachingPC(t, s, tt.pc)[2]&0x04 != 0; got != tt.want {
			t.Errorf("%s WCE after restart = %v, want %v", tt.name, got, tt.want)
		}
	}
	const n = 8
	for i := range n {
		if err := s.Write(0, uint64(i*8), randomData(uint64(i), 4096), blockSize, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.StableWrites.Load(); got != n {
		t.Fatalf("stable writes after restart with saved WCE=0 = %d, want %d", got, n)
	}
	for i := range n {
		mustReadBack(t, s, 0, uint64(i*8), randomData(uint64(i), 4096))
	}
}

// TestModeSelectSaveFailureChangesNothing: MODE SELECT with SP=1 whose save cannot
// be made durable (a directory stands where the modes file goes) is answered
// HARDWARE ERROR and changes nothing: current and saved WCE stay 1. Once the save
// can succeed, the next MODE SENSE, sent at once, sees the new values.
func TestModeSelectSaveFailureChangesNothing(t *testing.T) {
	cfg := baseConfig(t)
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(702)})
	ready(t, s, 0)
	blocker := filepath.Join(cfg.DataDir, string(fileSafeName(targetName))+"-lun0.modes.json", "x")
	if err := os.MkdirAll(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	page := senseCachingPC(t, s, 0)
	param := append(make([]byte, 8), page...)
	param[8] &^= 0x80
	param[8+2] &^= 0x04                                              // WCE=0
	cdb := []byte{scsi.OpModeSelect10, 0x11, 0, 0, 0, 0, 0, 0, 0, 0} // PF, SP
	binary.BigEndian.PutUint16(cdb[7:], uint16(len(param)))
	r, err := s.Command(0, cdb, param, 0)
	if err != nil || r.Status != scsi.StatusCheckCondition || r.Sense[2]&0x0F != scsi.SenseHardwareError {
		t.Fatalf("MODE SELECT SP=1 with an unwritable modes file: %+v, %v; want HARDWARE ERROR", r, err)
	}
	for _, pc := range []byte{0, 3} {
		if senseCachingPC(t, s, pc)[2]&0x04 == 0 {
			t.Fatalf("page control %d: WCE=0 after a save that failed", pc)
		}
	}
	if err := os.RemoveAll(filepath.Dir(blocker)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Command(0, cdb, param, 0); err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("MODE SELECT SP=1: %+v, %v", r, err)
	}
	for _, pc := range []byte{0, 3} {
		if senseCachingPC(t, s, pc)[2]&0x04 != 0 {
			t.Fatalf("page control %d: WCE=1 right after a save that succeeded", pc)
		}
	}
}

// fileSafeName is the target name as the service spells it in file names: letters,
// digits, '.' and '-' as they are, every other byte as "_" and two hex digits.
func fileSafeName(name string) []byte {
	var b []byte
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b = append(b, c)
			continue
		}
		b = fmt.Appendf(b, "_%02x", c)
	}
	return b
}
