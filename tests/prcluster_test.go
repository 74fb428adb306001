//go:build ceph

package tests

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/cephtest"
	"github.com/atgt/atgt/tests/initiator"
)

// Persistent reservations across gateways (issue 17, part 4): two atgtd
// processes, on 127.0.0.1 and 127.0.0.2, export the same RBD image of the
// one-node test cluster, and initiators on either see one set of registrations
// and one reservation.

const (
	prTarget    = "iqn.2026-11.dev.atgt:shared"
	prBlockSize = 512
	// PERSISTENT RESERVE OUT service actions and the type fence_scsi uses.
	prRegister, prReserve, prPreempt, prPreemptAbort, prRegisterIgnore = 0, 1, 4, 5, 6
	prTypeWERO                                                         = 5
)

// prCluster gives the test cluster (tests/cephtest, as the RBD tests use) and
// a fresh image on it; atgtd is built with the ceph tag (rbd_test.go).
func prCluster(t *testing.T) (conf, image string) {
	t.Helper()
	c := cephtest.Shared(t)
	return c.Conf, c.Image(t, 64<<20)
}

// prNode starts one gateway on addr exporting image as LUN 0 of prTarget.
func prNode(t *testing.T, conf, image, addr string) *daemon {
	t.Helper()
	cfg := map[string]any{
		"portals": []string{addr + ":0"},
		"dataDir": t.TempDir(),
		"targets": []any{map[string]any{
			"name": prTarget,
			"luns": []any{map[string]any{
				"id": 0, "backend": "rbd", "workers": 4, "writeCache": true,
				"rbd": map[string]any{"pool": "rbd", "image": image, "user": "admin", "cephConf": conf},
			}},
		}},
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "atgt.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	return startDaemonArgs(t, "-config", path)
}

// prSession logs in to d as initiator name with ISID isid. Each command may take
// 30 s, Linux's default SCSI command timeout: a PREEMPT AND ABORT that a dead
// gateway did not acknowledge is answered after the 18 s lease wait.
func prSession(t *testing.T, d *daemon, name string, isid byte) *initiator.Session {
	t.Helper()
	host, _, _ := strings.Cut(d.addr, ":")
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: name, TargetName: prTarget,
		ISID: [6]byte{0x40, 0, 0, 0, 0, isid}, LocalAddr: host, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("login to %s as %s: %v", d.addr, name, err)
	}
	t.Cleanup(func() { _ = s.Logout() })
	// The new nexus's POWER ON unit attention first.
	_, _ = s.Command(0, make([]byte, 6), nil, 0)
	return s
}

// prOut sends PERSISTENT RESERVE OUT and returns its status and sense.
func prOut(t *testing.T, s *initiator.Session, sa, typ uint8, key, saKey uint64) *initiator.Result {
	t.Helper()
	cdb := make([]byte, 10)
	cdb[0], cdb[1], cdb[2] = scsi.OpPersistentReserveOut, sa, typ
	binary.BigEndian.PutUint32(cdb[5:9], 24)
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	r, err := s.Command(0, cdb, p, 0)
	if err != nil {
		t.Fatalf("PROUT %d: %v", sa, err)
	}
	return r
}

func prOutGood(t *testing.T, s *initiator.Session, what string, sa, typ uint8, key, saKey uint64) {
	t.Helper()
	if r := prOut(t, s, sa, typ, key, saKey); r.Status != scsi.StatusGood {
		t.Fatalf("%s: status %#x sense %x", what, r.Status, r.Sense)
	}
}

// prIn runs PERSISTENT RESERVE IN sa and returns its data.
func prIn(t *testing.T, s *initiator.Session, sa uint8) []byte {
	t.Helper()
	cdb := []byte{scsi.OpPersistentReserveIn, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}
	r, err := s.Command(0, cdb, nil, 0x1000)
	if err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("PRIN %d: %v %+v", sa, err, r)
	}
	return r.Data
}

// prKeys runs READ KEYS: the generation and the keys.
func prKeys(t *testing.T, s *initiator.Session) (uint32, []uint64) {
	t.Helper()
	d := prIn(t, s, 0)
	var keys []uint64
	for off := 8; off+8 <= len(d); off += 8 {
		keys = append(keys, binary.BigEndian.Uint64(d[off:]))
	}
	return binary.BigEndian.Uint32(d[0:4]), keys
}

// prWrite writes one block at lba filled with b and returns the result.
func prWrite(t *testing.T, s *initiator.Session, lba uint64, b byte) *initiator.Result {
	t.Helper()
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpWrite16
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], 1)
	r, err := s.Command(0, cdb, bytes.Repeat([]byte{b}, prBlockSize), 0)
	if err != nil {
		t.Fatalf("WRITE at %d: %v", lba, err)
	}
	return r
}

func prExpect(t *testing.T, what string, r *initiator.Result, status uint8, asc, ascq byte) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %#x sense %x, want %#x", what, r.Status, r.Sense, status)
	}
	if status == scsi.StatusCheckCondition {
		e := &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
		if e.ASC() != asc || e.ASCQ() != ascq {
			t.Fatalf("%s: sense %02x/%02x, want %02x/%02x", what, e.ASC(), e.ASCQ(), asc, ascq)
		}
	}
}

// TestClusterReservations: registrations, the reservation and its unit
// attentions hold across two gateways of one RBD image.
func TestClusterReservations(t *testing.T) {
	conf, image := prCluster(t)
	a := prNode(t, conf, image, "127.0.0.1")
	b := prNode(t, conf, image, "127.0.0.2")

	t.Run("RegisterViaA_ReadKeysViaB", func(t *testing.T) {
		a1 := prSession(t, a, "iqn.2026-11.dev.atgt:host1", 1)
		b2 := prSession(t, b, "iqn.2026-11.dev.atgt:host2", 2)
		gen0, _ := prKeys(t, b2)
		prOutGood(t, a1, "REGISTER via A", prRegister, 0, 0, 0xA1)
		gen, keys := prKeys(t, b2)
		if gen != gen0+1 || len(keys) != 1 || keys[0] != 0xA1 {
			t.Fatalf("READ KEYS via B: generation %d keys %x, want %d [a1]", gen, keys, gen0+1)
		}
		prOutGood(t, b2, "REGISTER via B", prRegister, 0, 0, 0xB2)
		if gen, keys := prKeys(t, a1); gen != gen0+2 || len(keys) != 2 {
			t.Fatalf("READ KEYS via A: generation %d keys %x, want %d and 2 keys", gen, keys, gen0+2)
		}
		// Clean up for the next subtest: CLEAR from A.
		prOutGood(t, a1, "CLEAR via A", 3, 0, 0xA1, 0)
	})

	t.Run("ReserveViaA_ConflictViaB_PreemptViaB", func(t *testing.T) {
		a1 := prSession(t, a, "iqn.2026-11.dev.atgt:host1", 3)
		b2 := prSession(t, b, "iqn.2026-11.dev.atgt:host2", 4)
		b3 := prSession(t, b, "iqn.2026-11.dev.atgt:host3", 5)
		prOutGood(t, a1, "REGISTER via A", prRegister, 0, 0, 0xA1)
		prOutGood(t, a1, "RESERVE WE_RO via A", prReserve, prTypeWERO, 0xA1, 0)
		prExpect(t, "A's holder writes", prWrite(t, a1, 1, 0xA1), scsi.StatusGood, 0, 0)
		prExpect(t, "unregistered write via B", prWrite(t, b3, 2, 0xB3), scsi.StatusReservationConflict, 0, 0)
		r, err := b3.Command(0, []byte{scsi.OpRead10, 0, 0, 0, 0, 1, 0, 0, 1, 0}, nil, prBlockSize)
		if err != nil || r.Status != scsi.StatusGood {
			t.Fatalf("unregistered read via B under WRITE EXCLUSIVE: %v %+v", err, r)
		}
		d := prIn(t, b3, 1) // READ RESERVATION via B
		if len(d) < 24 || binary.BigEndian.Uint64(d[8:16]) != 0xA1 || d[21]&0x0F != prTypeWERO {
			t.Fatalf("READ RESERVATION via B: %x, want key a1 type WE_RO", d)
		}
		prOutGood(t, b2, "REGISTER via B", prRegister, 0, 0, 0xB2)
		prOutGood(t, b2, "PREEMPT via B", prPreempt, prTypeWERO, 0xB2, 0xA1)
		r, err = a1.Command(0, make([]byte, 6), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		prExpect(t, "A's first command after the preempt", r, scsi.StatusCheckCondition, 0x2A, 0x05)
		prExpect(t, "A's write after the preempt", prWrite(t, a1, 1, 0xA1), scsi.StatusReservationConflict, 0, 0)
		prExpect(t, "B's write as the new holder", prWrite(t, b2, 3, 0xB2), scsi.StatusGood, 0, 0)
		prOutGood(t, b2, "CLEAR via B", 3, 0, 0xB2, 0)
	})

	t.Run("FenceSCSI", func(t *testing.T) { prFenceSCSI(t, a, b) })
	t.Run("Libiscsi", func(t *testing.T) { prLibiscsi(t, a, b) })
	for _, d := range []*daemon{a, b} {
		if !d.alive() {
			t.Errorf("atgtd on %s died: %v", d.addr, d.err)
		}
	}
	t.Run("GatewayKilled", func(t *testing.T) { prGatewayKilled(t, a, b, conf, image) })
}

// prGatewayKilled: the gateway of the reservation holder is killed with
// SIGKILL; the other node fences the holder through the surviving gateway once it
// has blocklisted the dead gateway's clients and waited out its lease (StaleAfter
// and a fifth, 18 s: a registered member that does not acknowledge may be paused,
// not dead), and a gateway started anew in its place serves the state the cluster
// kept: the fenced node's writes conflict there too.
func prGatewayKilled(t *testing.T, a, b *daemon, conf, image string) {
	const key1, key2 = 0x6b310000, 0x6b320000
	n1 := prSession(t, a, "iqn.2026-11.dev.atgt:kill1", 8)
	n2 := prSession(t, b, "iqn.2026-11.dev.atgt:kill2", 9)
	prOutGood(t, n1, "node 1 registers via A", prRegisterIgnore, 0, 0, key1)
	prOutGood(t, n2, "node 2 registers via B", prRegisterIgnore, 0, 0, key2)
	prOutGood(t, n1, "node 1 reserves via A", prReserve, prTypeWERO, key1, 0)

	_ = a.cmd.Process.Kill()
	<-a.done
	a.stopped = true
	start := time.Now()
	prOutGood(t, n2, "node 2 fences node 1 via B with A dead", prPreemptAbort, prTypeWERO, key2, key1)
	took := time.Since(start)
	t.Logf("PREEMPT AND ABORT with the holder's gateway dead answered in %v", took)
	if took > 25*time.Second {
		t.Errorf("PREEMPT AND ABORT took %v with a dead gateway, more than the lease wait (18 s) and the blocklist allow", took)
	}

	a2 := prNode(t, conf, image, "127.0.0.1")
	n1again := prSession(t, a2, "iqn.2026-11.dev.atgt:kill1", 8)
	if _, keys := prKeys(t, n1again); len(keys) != 1 || keys[0] != key2 {
		t.Fatalf("READ KEYS via the restarted gateway: %x, want only node 2's", keys)
	}
	prExpect(t, "fenced node 1 writes via the restarted gateway", prWrite(t, n1again, 5, 0x11),
		scsi.StatusReservationConflict, 0, 0)
	prOutGood(t, n2, "node 2 clears", 3, 0, key2, 0)
}

// prLibiscsi runs libiscsi's reservation tests with the two gateways as the two
// paths: the second initiator of each two-initiator test (RESERVE6 across two
// initiators, PROUT RESERVE's access and ownership checks, PREEMPT) logs in to
// the other gateway. No test may fail or skip, and each run is checked by
// cuProblems (exit status, suites set up, every selected test run, Run Summary).
func prLibiscsi(t *testing.T, a, b *daemon) {
	cu := requireLibiscsi(t, "iscsi-test-cu")
	passed := 0
	for _, fam := range []string{"SCSI.PrinReadKeys", "SCSI.PrinServiceactionRange", "SCSI.PrinReportCapabilities",
		"SCSI.ProutRegister", "SCSI.ProutReserve", "SCSI.ProutClear", "SCSI.ProutPreempt", "SCSI.Reserve6"} {
		// No variants: no skip is allowed.
		res, out := runCUOut(t, cu, cuRunTimeout, "two gateways", fam, nil, []string{a.url(prTarget, 0), b.url(prTarget, 0)}, nil, nil)
		passed += len(res.Passed)
		if !strings.Contains(out, "found matching LU device identifier for all (2) paths") {
			t.Errorf("%s: iscsi-test-cu did not take the two gateways as paths of one LU", fam)
		}
	}
	t.Logf("%d libiscsi reservation tests passed across two gateways", passed)
}

// prFenceSCSI plays Pacemaker's fence_scsi: both cluster nodes register
// (REGISTER AND IGNORE EXISTING KEY), the first reserves WRITE EXCLUSIVE,
// REGISTRANTS ONLY, and node 2 fences node 1 with PREEMPT AND ABORT while
// node 1 is writing through the other gateway. Every write of node 1 answered
// GOOD is on the image; none answered otherwise is; after the preempt is
// answered node 1 writes nothing.
func prFenceSCSI(t *testing.T, a, b *daemon) {
	n1 := prSession(t, a, "iqn.2026-11.dev.atgt:pcmk1", 6)
	n2 := prSession(t, b, "iqn.2026-11.dev.atgt:pcmk2", 7)
	const key1, key2 = 0x6e310000, 0x6e320000
	prOutGood(t, n1, "node 1 registers", prRegisterIgnore, 0, 0, key1)
	prOutGood(t, n2, "node 2 registers", prRegisterIgnore, 0, 0, key2)
	prOutGood(t, n1, "node 1 reserves", prReserve, prTypeWERO, key1, 0)

	// Node 1 writes block after block (4 at a time) until it is refused.
	const base = 1024
	var mu sync.Mutex
	status := map[uint64]uint8{}
	var fencedAt time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(w); i < 4000; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				cdb := make([]byte, 16)
				cdb[0] = scsi.OpWrite16
				binary.BigEndian.PutUint64(cdb[2:], base+i)
				binary.BigEndian.PutUint32(cdb[10:], 1)
				sent := time.Now()
				r, err := n1.Command(0, cdb, bytes.Repeat([]byte{byte(i) | 1}, prBlockSize), 0)
				if err != nil {
					t.Errorf("node 1 write %d: %v", i, err)
					return
				}
				mu.Lock()
				status[i] = r.Status
				if r.Status == scsi.StatusGood && !fencedAt.IsZero() && sent.After(fencedAt) {
					t.Errorf("node 1's write %d sent after the fence was answered succeeded", i)
				}
				mu.Unlock()
			}
		}()
	}
	// Fence once node 1 is well under way.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(status)
		mu.Unlock()
		if n >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 wrote only %d blocks in 20 s", n)
		}
	}
	prOutGood(t, n2, "node 2 fences node 1 (PREEMPT AND ABORT)", prPreemptAbort, prTypeWERO, key2, key1)
	mu.Lock()
	fencedAt = time.Now()
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if _, keys := prKeys(t, n2); len(keys) != 1 || keys[0] != key2 {
		t.Fatalf("keys after the fence %x, want only node 2's", keys)
	}
	good, refused := 0, 0
	for i, st := range status {
		data, err := n2.Read(0, base+i, 1, prBlockSize)
		if err != nil {
			t.Fatalf("read back %d via node 2: %v", i, err)
		}
		landed := data[0] == byte(i)|1
		switch {
		case st == scsi.StatusGood && !landed:
			t.Errorf("node 1's write %d answered GOOD is not on the image", i)
		case st != scsi.StatusGood && landed:
			t.Errorf("node 1's write %d answered %#x landed anyway", i, st)
		}
		if st == scsi.StatusGood {
			good++
		} else {
			refused++
		}
	}
	t.Logf("node 1: %d writes before the fence, %d refused after it", good, refused)
	if good == 0 || refused == 0 {
		t.Fatalf("node 1 wrote %d and was refused %d times; the fence did not fall while it wrote", good, refused)
	}
	prOutGood(t, n2, "node 2 clears", 3, 0, key2, 0)
}
