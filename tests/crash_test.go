package tests

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// Shape of TestCrashKill9's load.
const (
	crashInitiator = "iqn.2026-11.dev.atgt:crash-test"
	crashBlock     = 512
	crashSessions  = 4
	crashRegion    = 512 // blocks each session owns
	crashCycles    = 2   // load, kill -9, restart, verify; twice
	crashPRKey     = 0xA7A7_0000_C0DE_0001
	crashMaxOps    = 20000 // per session and cycle, a bound besides the kill
)

// TestCrashKill9 kills atgtd with SIGKILL in the middle of a write load from several
// sessions, starts it again on the same data directory, and checks that nothing
// acknowledged was lost: every block holds the last write acknowledged for it or a
// write sent after it (in flight at the kill). That covers writes acknowledged as
// stable (FUA, or plain writes followed by a successful SYNCHRONIZE CACHE) and, since
// a kill leaves the page cache alone, every acknowledged plain write too (README
// "Durability": in the page cache when GOOD is returned). It also checks that a
// persistent reservation registered with APTPL survives, and that its state file is
// valid after every kill.
func TestCrashKill9(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ATGT_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("ATGT_CRASH_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (replay the load with ATGT_CRASH_SEED=%d; the kill's timing is the machine's)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 9))

	cfg := oneLunConfig(t, 16<<20)
	d := startDaemonConfig(t, cfg)

	pr := dialCrash(t, d.addr, 0xFF)
	if err := prRegisterAPTPL(pr, crashPRKey); err != nil {
		t.Fatalf("PERSISTENT RESERVE OUT REGISTER with APTPL: %v", err)
	}
	wantPRKey(t, pr, "after REGISTER")
	pr.Close()
	checkPRStateFile(t, cfg.DataDir)

	// The LUN starts as zeros (a new sparse file): that is every block's floor.
	regions := make([]*crashTracker, crashSessions)
	for i := range regions {
		regions[i] = newCrashTracker(uint64(i*crashRegion), make([]byte, crashRegion*crashBlock))
	}
	for cycle := range crashCycles {
		sessions := make([]*initiator.Session, crashSessions)
		for i := range sessions {
			sessions[i] = dialCrash(t, d.addr, byte(i))
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, tr := range regions {
			wg.Add(1)
			go func(s *initiator.Session, lrng *rand.Rand) {
				defer wg.Done()
				tr.load(s, lrng, stop)
			}(sessions[i], rand.New(rand.NewPCG(rng.Uint64(), uint64(i))))
		}
		time.Sleep(time.Duration(150+rng.IntN(350)) * time.Millisecond)
		if !d.alive() {
			t.Fatalf("cycle %d: atgtd died under load: %v", cycle, d.err)
		}
		if err := d.cmd.Process.Kill(); err != nil {
			t.Fatalf("kill -9: %v", err)
		}
		<-d.done
		close(stop)
		wg.Wait()
		for _, s := range sessions {
			s.Close()
		}
		var acked, stable, inFlight int
		for _, tr := range regions {
			acked += tr.acked
			stable += tr.stableAcks
			inFlight += tr.inFlight
		}
		t.Logf("cycle %d: killed atgtd (%v) after %d acknowledged writes (%d acknowledged stable) with %d writes in flight",
			cycle, d.err, acked, stable, inFlight)
		if acked == 0 || stable == 0 {
			t.Fatalf("cycle %d: the load did nothing before the kill", cycle)
		}
		checkPRStateFile(t, cfg.DataDir)

		restartKilled(t, d)
		v := dialCrash(t, d.addr, 0xFE)
		wantPRKey(t, v, fmt.Sprintf("cycle %d: after kill -9 and restart", cycle))
		bad := 0
		for _, tr := range regions {
			got, err := readRetryUA(v, tr.lba, crashRegion)
			if err != nil {
				t.Fatalf("cycle %d: read back lba %d: %v", cycle, tr.lba, err)
			}
			for _, msg := range tr.check(got) {
				if bad++; bad <= 10 {
					t.Errorf("cycle %d: %s", cycle, msg)
				}
			}
			tr.reset(got)
		}
		if bad > 0 {
			t.Fatalf("cycle %d: %d blocks lost acknowledged data", cycle, bad)
		}
		v.Close()
	}
}

// crashTracker is one session's region and what the initiator was told about it.
// Per block, vers[0] is the last acknowledged write (or the content read back), and
// later versions were sent after it without an answer (in flight at the kill).
type crashTracker struct {
	lba  uint64
	vers [][][]byte
	// stableVer is, per block, the last content acknowledged as stable, to tell a
	// lost stable write from a lost cached one in a failure.
	stableVer [][]byte
	// pending holds plain writes acknowledged since the last sync, per block.
	pending map[int][]byte
	// unsynced counts plain writes acknowledged since the last sync.
	unsynced int
	// Counters for the log.
	acked, stableAcks, inFlight int
}

func newCrashTracker(lba uint64, content []byte) *crashTracker {
	tr := &crashTracker{lba: lba}
	tr.reset(content)
	return tr
}

// reset makes content (read back after a restart) every block's floor.
func (tr *crashTracker) reset(content []byte) {
	n := len(content) / crashBlock
	tr.vers, tr.stableVer, tr.pending = make([][][]byte, n), make([][]byte, n), map[int][]byte{}
	for b := range n {
		blk := content[b*crashBlock : (b+1)*crashBlock]
		tr.vers[b], tr.stableVer[b] = [][]byte{blk}, blk
	}
	tr.acked, tr.stableAcks, tr.inFlight, tr.unsynced = 0, 0, 0, 0
}

// load writes into the region until stop is closed or a command fails (the kill):
// FUA writes, plain writes, and SYNCHRONIZE CACHE.
func (tr *crashTracker) load(s *initiator.Session, rng *rand.Rand, stop <-chan struct{}) {
	for range crashMaxOps {
		select {
		case <-stop:
			return
		default:
		}
		k := rng.IntN(100)
		if k < 15 {
			if err := s.SyncCache(0); err != nil {
				return
			}
			for b, data := range tr.pending {
				tr.stableVer[b] = data
			}
			clear(tr.pending)
			tr.stableAcks += tr.unsynced
			tr.unsynced = 0
			continue
		}
		fua := k < 55
		blocks := 1 + rng.IntN(32)
		first := rng.IntN(crashRegion - blocks + 1)
		data := make([]byte, blocks*crashBlock)
		for i := 0; i < len(data); i += 8 {
			binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
		}
		for b := range blocks {
			tr.vers[first+b] = append(tr.vers[first+b], data[b*crashBlock:(b+1)*crashBlock])
		}
		if err := s.Write(0, tr.lba+uint64(first), data, crashBlock, fua); err != nil {
			tr.inFlight++
			return
		}
		tr.acked++
		if fua {
			tr.stableAcks++
		}
		for b := range blocks {
			blk := data[b*crashBlock : (b+1)*crashBlock]
			tr.vers[first+b] = [][]byte{blk}
			if fua {
				tr.stableVer[first+b] = blk
				delete(tr.pending, first+b)
			} else {
				tr.pending[first+b] = blk
			}
		}
		if !fua {
			tr.unsynced++
		}
	}
}

// check returns a message for every block of got that holds neither its last
// acknowledged write nor one sent after it.
func (tr *crashTracker) check(got []byte) []string {
	var out []string
	for b, vers := range tr.vers {
		blk := got[b*crashBlock : (b+1)*crashBlock]
		ok := false
		for _, v := range vers {
			ok = ok || bytes.Equal(blk, v)
		}
		if ok {
			continue
		}
		what := "an acknowledged plain write (in the page cache when GOOD was returned, so a process crash must not lose it)"
		if bytes.Equal(vers[0], tr.stableVer[b]) {
			what = "data acknowledged as stable"
		}
		out = append(out, fmt.Sprintf("lba %d lost %s: holds % x..., want % x... or one of %d writes in flight",
			tr.lba+uint64(b), what, blk[:8], vers[0][:8], len(vers)-1))
	}
	return out
}

// dialCrash logs in to the default target with ISID qualifier n and clears the
// unit attentions a new nexus reports.
func dialCrash(t *testing.T, addr string, n byte) *initiator.Session {
	t.Helper()
	s, err := initiator.Dial(addr, initiator.Options{
		InitiatorName: crashInitiator,
		TargetName:    defaultIQN,
		ISID:          [6]byte{0x80, 0xc4, 0, 0, 0, n},
		Timeout:       10 * time.Second,
	})
	if err != nil {
		t.Fatalf("login to %s: %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := retryUnitAttention(func() error { return s.TestUnitReady(uint64(testLUN)) }); err != nil {
		t.Fatalf("TEST UNIT READY: %v", err)
	}
	return s
}

// retryUnitAttention runs cmd again while it reports a unit attention (the command
// was not executed).
func retryUnitAttention(cmd func() error) error {
	var err error
	for range 4 {
		err = cmd()
		var se *initiator.SCSIError
		if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention {
			return err
		}
	}
	return err
}

// readRetryUA reads blocks at lba past unit attentions.
func readRetryUA(s *initiator.Session, lba uint64, blocks uint32) (got []byte, err error) {
	err = retryUnitAttention(func() error {
		got, err = s.Read(uint64(testLUN), lba, blocks, crashBlock)
		return err
	})
	return got, err
}

// prRegisterAPTPL registers key for the session's I_T nexus with PERSISTENT RESERVE
// OUT, REGISTER, APTPL set (SPC-4 6.16).
func prRegisterAPTPL(s *initiator.Session, key uint64) error {
	param := make([]byte, 24)
	binary.BigEndian.PutUint64(param[8:], key) // SERVICE ACTION RESERVATION KEY
	param[20] = 0x01                           // APTPL
	cdb := make([]byte, 10)
	cdb[0] = scsi.OpPersistentReserveOut
	cdb[1] = 0x00 // REGISTER
	binary.BigEndian.PutUint32(cdb[5:], uint32(len(param)))
	return retryUnitAttention(func() error {
		r, err := s.Command(uint64(testLUN), cdb, param, 0)
		if err == nil && r.Status != scsi.StatusGood {
			err = &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
		}
		return err
	})
}

// prReadKeys returns the registered keys (PERSISTENT RESERVE IN, READ KEYS).
func prReadKeys(s *initiator.Session) ([]uint64, error) {
	cdb := make([]byte, 10)
	cdb[0] = scsi.OpPersistentReserveIn
	cdb[1] = 0x00 // READ KEYS
	binary.BigEndian.PutUint16(cdb[7:], 1024)
	var data []byte
	err := retryUnitAttention(func() error {
		r, err := s.Command(uint64(testLUN), cdb, nil, 1024)
		if err == nil && r.Status != scsi.StatusGood {
			err = &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
		}
		if err == nil {
			data = r.Data
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("READ KEYS returned %d bytes", len(data))
	}
	n := int(binary.BigEndian.Uint32(data[4:]))
	if n%8 != 0 || 8+n > len(data) {
		return nil, fmt.Errorf("READ KEYS: additional length %d with %d bytes", n, len(data))
	}
	var keys []uint64
	for off := 8; off < 8+n; off += 8 {
		keys = append(keys, binary.BigEndian.Uint64(data[off:]))
	}
	return keys, nil
}

// wantPRKey asserts crashPRKey is registered.
func wantPRKey(t *testing.T, s *initiator.Session, when string) {
	t.Helper()
	keys, err := prReadKeys(s)
	if err != nil {
		t.Fatalf("%s: PERSISTENT RESERVE IN READ KEYS: %v", when, err)
	}
	for _, k := range keys {
		if k == crashPRKey {
			return
		}
	}
	t.Fatalf("%s: registered keys %#x, want %#x among them (APTPL)", when, keys, uint64(crashPRKey))
}

// checkPRStateFile asserts the data directory holds exactly one reservation state
// file, that the target's own loader accepts it, and that it has the APTPL
// registration of crashPRKey.
func checkPRStateFile(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.pr.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("reservation state files in %s: %v, %v; want one", dir, files, err)
	}
	if _, err := reservation.LoadState(files[0]); err != nil {
		t.Fatalf("reservation state file: %v", err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		APTPL         bool `json:"aptpl"`
		Registrations []struct {
			Key uint64 `json:"key"`
		} `json:"registrations"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("reservation state file %s: %v\n%s", files[0], err, raw)
	}
	found := false
	for _, r := range st.Registrations {
		found = found || r.Key == crashPRKey
	}
	if !st.APTPL || !found {
		t.Fatalf("reservation state file %s lacks the APTPL registration of %#x:\n%s", files[0], uint64(crashPRKey), raw)
	}
}

// restartKilled starts atgtd again, with the same arguments, in the daemon value of
// one that was killed: the cleanup startDaemonArgs registered then stops the new
// process and checks that it exits cleanly, instead of reporting the kill as a
// crash.
func restartKilled(t *testing.T, d *daemon) {
	t.Helper()
	select {
	case <-d.done:
	default:
		t.Fatal("restartKilled: atgtd is still running")
	}
	args := d.cmd.Args[1:]
	ready := make(chan string, 1)
	d.luns = nil
	d.stdout = &lineWriter{onLine: func(line string) {
		switch {
		case strings.HasPrefix(line, "ready portal="):
			select {
			case ready <- strings.TrimSpace(strings.TrimPrefix(line, "ready portal=")):
			default:
			}
		case strings.HasPrefix(line, "target "):
			d.luns = append(d.luns, line)
		}
	}}
	d.done, d.err = make(chan struct{}), nil
	d.cmd = exec.Command(atgtdBin, args...)
	d.cmd.Stdout = d.stdout
	d.cmd.Stderr = d.stderr
	t.Logf("restart: $ %s %s", atgtdBin, strings.Join(args, " "))
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("restart atgtd: %v", err)
	}
	cmd, done := d.cmd, d.done
	go func() {
		d.err = cmd.Wait()
		close(done)
	}()
	select {
	case d.addr = <-ready:
	case <-done:
		t.Fatalf("restarted atgtd exited before it was ready: %v\nstdout:\n%s\nstderr:\n%s", d.err, d.stdout, d.stderr)
	case <-time.After(readyTimeout):
		t.Fatalf("restarted atgtd printed no ready line within %v", readyTimeout)
	}
	t.Logf("atgtd restarted on %s (pid %d)", d.addr, cmd.Process.Pid)
}
