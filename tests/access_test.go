package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// Initiator names of the access control tests.
const (
	aclInitA   = "iqn.2026-11.dev.atgt:acl-a"
	aclInitB   = "iqn.2026-11.dev.atgt:acl-b"
	aclInitC   = "iqn.2026-11.dev.atgt:acl-c" // has no LUNs of its own
	aclPrivate = "iqn.2026-11.dev.atgt:private"
	aclNet     = "iqn.2026-11.dev.atgt:net"
	aclLUNSize = 4 << 20
)

// aclLun is a 4 MiB file LUN in dir.
func aclLun(dir string, id int, file string) testLun {
	return testLun{ID: id, Path: filepath.Join(dir, file), SizeBytes: "4194304", Workers: 2, WriteCache: true}
}

// aclISIDs numbers the access tests' sessions, so that none reinstates another.
var aclISIDs atomic.Uint32

// aclDial logs in as name to target (or a discovery session if target is ""), from
// the local address from ("" for any).
func aclDial(t *testing.T, addr, name, target, from string) (*initiator.Session, error) {
	t.Helper()
	s, err := initiator.Dial(addr, initiator.Options{InitiatorName: name, TargetName: target, Discovery: target == "",
		ISID: [6]byte{0x80, 0xac, 0, 0, 0, byte(aclISIDs.Add(1))}, LocalAddr: from, Timeout: 10 * time.Second})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// mustDial is aclDial that fails the test if the login fails.
func mustDial(t *testing.T, addr, name, target, from string) *initiator.Session {
	t.Helper()
	s, err := aclDial(t, addr, name, target, from)
	if err != nil {
		t.Fatalf("login of %s to %q from %q: %v", name, target, from, err)
	}
	return s
}

// expectLoginRefused checks that a login failed with status 0202 (authorization
// failure).
func expectLoginRefused(t *testing.T, err error, what string) {
	t.Helper()
	var le *initiator.LoginError
	if !errors.As(err, &le) || le.Status() != iscsi.LoginStatusAuthorizationFailure {
		t.Fatalf("%s: got %v, want login status 0202 (authorization failure)", what, err)
	}
}

// discovered lists the target names a discovery session's SendTargets=All returns.
func discovered(t *testing.T, s *initiator.Session) []string {
	t.Helper()
	kvs, err := s.SendTargets("All")
	if err != nil {
		t.Fatalf("SendTargets: %v", err)
	}
	var names []string
	for _, kv := range kvs {
		if kv.Key == "TargetName" {
			names = append(names, kv.Value)
		}
	}
	slices.Sort(names)
	return names
}

// serial returns the Unit Serial Number VPD page (0x80) of a LUN.
func serial(t *testing.T, s *initiator.Session, lun uint64) string {
	t.Helper()
	r, err := s.Command(lun, []byte{scsi.OpInquiry, 1, 0x80, 0, 255, 0}, nil, 255)
	if err != nil || r.Status != scsi.StatusGood || len(r.Data) < 4 {
		t.Fatalf("INQUIRY VPD 0x80 of LUN %d: %v %+v", lun, err, r)
	}
	return string(r.Data[4:])
}

// TestPerInitiatorLUNs: a target gives initiator A its own LUNs 0 and 5 and B its own
// LUN 2, beside a shared LUN 0 that every other initiator (C) sees. Each sees only
// its own in REPORT LUNS (also through a LUN it does not have), in INQUIRY (another's
// LUN is "not present", and A's LUN 0 is not the shared LUN 0) and in IO: what each
// writes to its LUN lands in its own backing file only. A second target has only
// per-initiator LUNs: C may not log in to it, nor see it in SendTargets. libiscsi's
// iscsi-ls, logging in under each name, lists the same LUNs.
func TestPerInitiatorLUNs(t *testing.T) {
	cfg := oneLunConfig(t, aclLUNSize)
	dir := cfg.DataDir
	cfg.Targets[0].Luns = []testLun{aclLun(dir, 0, "shared0.img")}
	cfg.Targets[0].InitiatorLuns = []testInitiatorLuns{
		{Initiator: aclInitA, Luns: []testLun{aclLun(dir, 0, "a0.img"), aclLun(dir, 5, "a5.img")}},
		{Initiator: aclInitB, Luns: []testLun{aclLun(dir, 2, "b2.img")}},
	}
	cfg.Targets = append(cfg.Targets, testTarget{Name: aclPrivate,
		InitiatorLuns: []testInitiatorLuns{{Initiator: aclInitA, Luns: []testLun{aclLun(dir, 1, "private-a1.img")}}}})
	d := startDaemonConfig(t, cfg)

	type view struct {
		name  string
		luns  []uint64 // what REPORT LUNS lists
		write uint64   // the LUN it writes to
		file  string   // the backing file of that LUN
		fill  byte     // the byte it writes
	}
	views := []view{
		{aclInitA, []uint64{0, 5}, 0, "a0.img", 0xaa},
		{aclInitB, []uint64{2}, 2, "b2.img", 0xbb},
		{aclInitC, []uint64{0}, 0, "shared0.img", 0xcc},
	}
	sessions := map[string]*initiator.Session{}
	for _, v := range views {
		s := mustDial(t, d.addr, v.name, defaultIQN, "")
		sessions[v.name] = s
		// REPORT LUNS through LUN 0 (B has none: the first of its own answers) and
		// through each LUN it has.
		for _, through := range append([]uint64{0}, v.luns...) {
			var got []uint64
			err := retryUnitAttention(func() (err error) { got, err = s.ReportLUNs(through); return err })
			if err != nil || !slices.Equal(got, v.luns) {
				t.Fatalf("%s: REPORT LUNS through LUN %d: %v, %v; want %v", v.name, through, got, err, v.luns)
			}
		}
		// INQUIRY: its own LUNs are there, the others' are not (peripheral 0x7f).
		for _, lun := range []uint64{0, 1, 2, 5} {
			inq, err := s.Inquiry(lun)
			if err != nil || len(inq) == 0 {
				t.Fatalf("%s: INQUIRY LUN %d: %v", v.name, lun, err)
			}
			if want := slices.Contains(v.luns, lun); (inq[0] == 0x00) != want || (!want && inq[0] != 0x7f) {
				t.Fatalf("%s: INQUIRY LUN %d peripheral byte %#x; LUN present: %v", v.name, lun, inq[0], want)
			}
		}
		if err := retryUnitAttention(func() error { return s.TestUnitReady(v.write) }); err != nil {
			t.Fatalf("%s: TEST UNIT READY LUN %d: %v", v.name, v.write, err)
		}
		data := bytes.Repeat([]byte{v.fill}, 8192)
		if err := s.Write(v.write, 16, data, 512, true); err != nil {
			t.Fatalf("%s: write LUN %d: %v", v.name, v.write, err)
		}
	}
	// B addresses LUN 0, which it does not have: LOGICAL UNIT NOT SUPPORTED.
	err := sessions[aclInitB].Write(0, 16, make([]byte, 512), 512, false)
	var se *initiator.SCSIError
	if !errors.As(err, &se) || se.Key() != scsi.SenseIllegalRequest || se.ASC() != 0x25 {
		t.Fatalf("B's write to LUN 0: %v, want ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED", err)
	}
	// Each reads back its own data, and the backing files hold exactly what their
	// initiator wrote.
	for _, v := range views {
		got, err := sessions[v.name].Read(v.write, 16, 16, 512)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{v.fill}, 8192)) {
			t.Fatalf("%s: read back LUN %d: %v (first byte %x)", v.name, v.write, err, first(got))
		}
		raw, err := os.ReadFile(filepath.Join(dir, v.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw[16*512:16*512+8192], bytes.Repeat([]byte{v.fill}, 8192)) || raw[0] != 0 {
			t.Fatalf("%s: %s does not hold what it wrote", v.name, v.file)
		}
	}
	if sa, sc := serial(t, sessions[aclInitA], 0), serial(t, sessions[aclInitC], 0); sa == sc {
		t.Fatalf("A's LUN 0 and the shared LUN 0 have the same serial %q", sa)
	}

	// The target with only per-initiator LUNs: A logs in and sees its LUN 1; C is
	// refused, and discovery shows it only to A.
	pa := mustDial(t, d.addr, aclInitA, aclPrivate, "")
	var got []uint64
	if err := retryUnitAttention(func() (err error) { got, err = pa.ReportLUNs(0); return err }); err != nil || !slices.Equal(got, []uint64{1}) {
		t.Fatalf("A on %s: REPORT LUNS %v, %v; want [1]", aclPrivate, got, err)
	}
	_, err = aclDial(t, d.addr, aclInitC, aclPrivate, "")
	expectLoginRefused(t, err, "C's login to "+aclPrivate)
	if got := discovered(t, mustDial(t, d.addr, aclInitA, "", "")); !slices.Equal(got, []string{defaultIQN, aclPrivate}) {
		t.Fatalf("A discovers %v", got)
	}
	if got := discovered(t, mustDial(t, d.addr, aclInitC, "", "")); !slices.Equal(got, []string{defaultIQN}) {
		t.Fatalf("C discovers %v", got)
	}

	// libiscsi's iscsi-ls, an independent client, sees the same per initiator.
	ls := requireLibiscsi(t, "iscsi-ls")
	for _, v := range views {
		out, err := runTool(t, 30*time.Second, ls, "-s", "-i", v.name, "iscsi://"+d.addr)
		if err != nil {
			t.Fatalf("iscsi-ls as %s: %v\n%s", v.name, err, out)
		}
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "Lun:") { // "Lun:5    Type:..."
				got = append(got, strings.TrimPrefix(f[0], "Lun:"))
			}
		}
		want := []string{}
		for _, l := range v.luns {
			want = append(want, strconv.FormatUint(l, 10))
		}
		if v.name == aclInitA {
			want = append(want, "1") // its LUN 1 on the private target
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("iscsi-ls as %s lists LUNs %v, want %v:\n%s", v.name, got, want, out)
		}
	}
}

// first returns b's first byte, or 0.
func first(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// TestSourceNetworkACL: a target open only to 127.0.0.2/32 refuses a login from
// 127.0.0.1 with 0202 and hides itself from 127.0.0.1's SendTargets, and serves
// 127.0.0.2 (IO included); a second target without allowedNetworks serves both.
func TestSourceNetworkACL(t *testing.T) {
	cfg := oneLunConfig(t, aclLUNSize)
	cfg.Targets = append(cfg.Targets, testTarget{Name: aclNet, AllowedNetworks: []string{"127.0.0.2/32"},
		Luns: []testLun{aclLun(cfg.DataDir, 0, "net0.img")}})
	d := startDaemonConfig(t, cfg)

	_, err := aclDial(t, d.addr, aclInitA, aclNet, "127.0.0.1")
	expectLoginRefused(t, err, "login from 127.0.0.1")
	if got := discovered(t, mustDial(t, d.addr, aclInitA, "", "127.0.0.1")); !slices.Equal(got, []string{defaultIQN}) {
		t.Fatalf("127.0.0.1 discovers %v", got)
	}
	if got := discovered(t, mustDial(t, d.addr, aclInitA, "", "127.0.0.2")); !slices.Equal(got, []string{defaultIQN, aclNet}) {
		t.Fatalf("127.0.0.2 discovers %v", got)
	}
	s := mustDial(t, d.addr, aclInitA, aclNet, "127.0.0.2")
	if err := retryUnitAttention(func() error { return s.TestUnitReady(0) }); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0x5a}, 4096)
	if err := s.Write(0, 8, data, 512, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(0, 8, 8, 512); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	// The open target serves both addresses.
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		mustDial(t, d.addr, aclInitB, defaultIQN, from)
	}
}

// TestUnauthenticatedExposureRefused: atgtd refuses to serve a target without
// authentication or an access list on a non-loopback portal unless the target says
// allowUnauthenticated, and says why, naming the field, before it listens; the
// embedded default given a wildcard -portal is refused the same way.
func TestUnauthenticatedExposureRefused(t *testing.T) {
	if buildErr != nil {
		t.Fatalf("building atgtd failed: %v", buildErr)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "open.json")
	if err := os.WriteFile(cfg, []byte(`{"portals":["0.0.0.0:0"],"targets":[{"name":"iqn.2026-11.dev.atgt:x",`+
		`"luns":[{"id":0,"backend":"memory","sizeBytes":"1048576"}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-config", cfg, "-data", dir},
		{"-portal", "0.0.0.0:0", "-data", dir}, // the embedded default
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, atgtdBin, args...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 || strings.Contains(string(out), "ready portal=") {
			t.Fatalf("atgtd %v served an unauthenticated target on 0.0.0.0 (err=%v):\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "targets[0].allowUnauthenticated") || !strings.Contains(string(out), "refusing") {
			t.Fatalf("atgtd %v: output does not warn and name targets[0].allowUnauthenticated:\n%s", args, out)
		}
	}
}
