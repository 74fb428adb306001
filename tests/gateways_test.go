package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// Gateway nodes of one target, each its own ALUA target port group: node A (group 1)
// on 127.0.0.1, node B (group 2) on 127.0.0.2 and, where a test has three, node C
// (group 3) on 127.0.0.3, all on the same port.
const (
	gwHostA, gwHostB = "127.0.0.1", "127.0.0.2"
	gwInitiator      = "iqn.2026-11.dev.atgt:gateway-test"
	gwBlock          = 512
)

// gwHostC is node C's address, for tests with three nodes.
const gwHostC = "127.0.0.3"

type (
	// gwConfig is a gateway node's config (config.proto: Config, Target with
	// port_groups and local_port_group).
	gwConfig struct {
		Portals []string   `json:"portals"`
		DataDir string     `json:"dataDir"`
		Targets []gwTarget `json:"targets"`
	}
	gwTarget struct {
		Name              string        `json:"name"`
		AllowedInitiators []string      `json:"allowedInitiators,omitempty"`
		Luns              []gwLun       `json:"luns"`
		PortGroups        []gwPortGroup `json:"portGroups"`
		LocalPortGroup    int           `json:"localPortGroup"`
		AluaHoldSeconds   int           `json:"aluaHoldSeconds,omitempty"`
	}
	gwPortGroup struct {
		ID      int      `json:"id"`
		Name    string   `json:"name"`
		Portals []string `json:"portals"`
	}
	gwLun struct {
		ID         int     `json:"id"`
		Backend    string  `json:"backend,omitempty"`
		Path       string  `json:"path,omitempty"`
		SizeBytes  string  `json:"sizeBytes,omitempty"`
		Workers    int     `json:"workers,omitempty"`
		WriteCache bool    `json:"writeCache"`
		IoTimeout  float64 `json:"ioTimeout,omitempty"`
		Rbd        *gwRbd  `json:"rbd,omitempty"`
	}
	gwRbd struct {
		Pool     string `json:"pool"`
		Image    string `json:"image"`
		User     string `json:"user,omitempty"`
		CephConf string `json:"cephConf,omitempty"`
	}
)

// gateways is the node configs for one LUN, with the portals the nodes will listen
// on (node i is group i+1).
type gateways struct {
	cfg     []gwConfig
	portals []string
}

// newGateways configures nodes A and B to export lun as target defaultIQN, each
// with its own data directory, on a port free on both addresses.
func newGateways(t *testing.T, lun gwLun, initiators ...string) *gateways {
	return newGatewaysOn(t, []string{gwHostA, gwHostB}, lun, initiators...)
}

// newGatewaysOn is newGateways with one node on each of hosts.
func newGatewaysOn(t *testing.T, hosts []string, lun gwLun, initiators ...string) *gateways {
	t.Helper()
	port := gwFreePort(t, hosts)
	g := &gateways{cfg: make([]gwConfig, len(hosts))}
	var groups []gwPortGroup
	for i, h := range hosts {
		g.portals = append(g.portals, net.JoinHostPort(h, port))
		groups = append(groups, gwPortGroup{ID: i + 1, Name: "gw-" + string(rune('a'+i)), Portals: []string{g.portals[i]}})
	}
	for i := range g.cfg {
		g.cfg[i] = gwConfig{Portals: []string{g.portals[i]}, DataDir: t.TempDir(), Targets: []gwTarget{{
			Name: defaultIQN, AllowedInitiators: initiators, Luns: []gwLun{lun}, PortGroups: groups, LocalPortGroup: i + 1}}}
	}
	return g
}

// gwFreePort finds a TCP port free on every one of hosts.
func gwFreePort(t *testing.T, hosts []string) string {
	t.Helper()
	for range 20 {
		a, err := net.Listen("tcp", hosts[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(a.Addr().String())
		ls := []net.Listener{a}
		for _, h := range hosts[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(h, port))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == len(hosts) {
			return port
		}
	}
	t.Fatalf("no port free on every one of %v", hosts)
	return ""
}

// start starts node i (0: A, 1: B).
func (g *gateways) start(t *testing.T, i int) *daemon {
	t.Helper()
	return startDaemonConfig(t, g.cfg[i], "-log-level", "info")
}

// sharedFileLUN is a file LUN both nodes open: on one machine the page cache makes it
// one coherent store, like an RBD image, without Ceph.
func sharedFileLUN(t *testing.T, size int64) gwLun {
	return gwLun{ID: testLUN, Path: filepath.Join(t.TempDir(), "shared.img"), SizeBytes: strconv.FormatInt(size, 10),
		Workers: 4, WriteCache: true}
}

// gwDial logs in to node addr from the gateway test initiator.
func gwDial(t *testing.T, addr string, discovery bool, isid byte) *initiator.Session {
	t.Helper()
	target := defaultIQN
	if discovery {
		target = ""
	}
	s, err := initiator.Dial(addr, initiator.Options{InitiatorName: gwInitiator, TargetName: target, Discovery: discovery,
		ISID: [6]byte{0x80, 0x9a, 0, 0, 0, isid}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("login to %s: %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rtpgGroup is one target port group descriptor of REPORT TARGET PORT GROUPS.
type rtpgGroup struct {
	ID    uint16
	State byte
	Ports []uint16
}

// reportTargetPortGroups sends REPORT TARGET PORT GROUPS (extended header) and
// parses the descriptors.
func reportTargetPortGroups(t *testing.T, s *initiator.Session) []rtpgGroup {
	t.Helper()
	var groups []rtpgGroup
	if err := retryUnitAttention(func() (err error) { groups, err = rtpgOnce(t, s); return err }); err != nil {
		t.Fatalf("REPORT TARGET PORT GROUPS: %v", err)
	}
	return groups
}

// rtpgOnce sends REPORT TARGET PORT GROUPS once: a CHECK CONDITION (a unit
// attention) is the error; a malformed answer fails t.
func rtpgOnce(t *testing.T, s *initiator.Session) ([]rtpgGroup, error) {
	t.Helper()
	groups, err := rtpgSend(s)
	if errors.Is(err, errRTPGMalformed) {
		t.Fatal(err)
	}
	return groups, err
}

// errRTPGMalformed marks an RTPG answer that does not parse.
var errRTPGMalformed = errors.New("malformed REPORT TARGET PORT GROUPS answer")

// rtpgSend is rtpgOnce for any goroutine: a malformed answer is an error wrapping
// errRTPGMalformed.
func rtpgSend(s *initiator.Session) ([]rtpgGroup, error) {
	cdb := make([]byte, 12)
	cdb[0], cdb[1] = scsi.OpMaintenanceIn, 0x20|scsi.SAReportTargetPortGroups
	binary.BigEndian.PutUint32(cdb[6:10], 1024)
	r, err := s.Command(uint64(testLUN), cdb, nil, 1024)
	if err == nil && r.Status != scsi.StatusGood {
		err = &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
	}
	if err != nil {
		return nil, err
	}
	d := r.Data
	if len(d) < 8 || d[4]&0x70 != 0x10 || int(binary.BigEndian.Uint32(d[0:4]))+4 != len(d) {
		return nil, fmt.Errorf("%w: header % x (length %d)", errRTPGMalformed, d[:min(8, len(d))], len(d))
	}
	var out []rtpgGroup
	for p := d[8:]; len(p) >= 8; {
		g := rtpgGroup{ID: binary.BigEndian.Uint16(p[2:4]), State: p[0] & 0x0F}
		n := int(p[7])
		if len(p) < 8+4*n {
			return nil, fmt.Errorf("%w: descriptor cut: % x", errRTPGMalformed, p)
		}
		for i := range n {
			g.Ports = append(g.Ports, binary.BigEndian.Uint16(p[8+4*i+2:]))
		}
		out = append(out, g)
		p = p[8+4*n:]
	}
	return out, nil
}

// vpdPortGroup returns the relative target port and target port group designators
// of VPD page 0x83.
func vpdPortGroup(t *testing.T, s *initiator.Session) (rel, tpg uint16) {
	t.Helper()
	r, err := s.Command(uint64(testLUN), []byte{scsi.OpInquiry, 1, 0x83, 0x01, 0x00, 0}, nil, 256)
	if err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("VPD 0x83: %v %+v", err, r)
	}
	for p := r.Data[4:]; len(p) >= 4; p = p[4+int(p[3]):] {
		switch p[1] & 0x3F {
		case 0x14: // port association, relative target port
			rel = binary.BigEndian.Uint16(p[6:8])
		case 0x15: // port association, target port group
			tpg = binary.BigEndian.Uint16(p[6:8])
		}
	}
	return rel, tpg
}

// TestGatewaysPortGroups: two atgtd nodes export one LUN as target port groups 1 and
// 2. SendTargets through either lists both portals with their tags, each node's
// login carries its own tag, INQUIRY says implicit ALUA, VPD 0x83 names the node's
// group and port, and REPORT TARGET PORT GROUPS through either node lists both
// groups with their ports, active/optimized (a file: no lock, static states).
func TestGatewaysPortGroups(t *testing.T) {
	g := newGateways(t, sharedFileLUN(t, 16<<20))
	nodes := []*daemon{g.start(t, 0), g.start(t, 1)}
	want := []string{g.portals[0] + ",1", g.portals[1] + ",2"}
	for i, d := range nodes {
		kvs, err := gwDial(t, d.addr, true, byte(i)).SendTargets("All")
		if err != nil {
			t.Fatalf("node %d SendTargets: %v", i, err)
		}
		var names, addrs []string
		for _, kv := range kvs {
			switch kv.Key {
			case "TargetName":
				names = append(names, kv.Value)
			case "TargetAddress":
				addrs = append(addrs, kv.Value)
			}
		}
		if !slices.Equal(names, []string{defaultIQN}) || !slices.Equal(addrs, want) {
			t.Fatalf("node %d SendTargets: targets %v addresses %v, want %v", i, names, addrs, want)
		}
		s := gwDial(t, d.addr, false, byte(10+i))
		if s.Params.TargetPortalGroupTag != uint32(i+1) {
			t.Fatalf("node %d login: TargetPortalGroupTag %d", i, s.Params.TargetPortalGroupTag)
		}
		var inq []byte
		if err := retryUnitAttention(func() (err error) { inq, err = s.Inquiry(uint64(testLUN)); return err }); err != nil {
			t.Fatal(err)
		}
		if tpgs := inq[5] >> 4 & 0x03; tpgs != 0x01 {
			t.Fatalf("node %d INQUIRY TPGS %b, want 01b (implicit ALUA)", i, tpgs)
		}
		if rel, tpg := vpdPortGroup(t, s); rel != uint16(i+1) || tpg != uint16(i+1) {
			t.Fatalf("node %d VPD 0x83: relative port %d, port group %d", i, rel, tpg)
		}
		groups := reportTargetPortGroups(t, s)
		wantGroups := fmt.Sprint([]rtpgGroup{{1, 0, []uint16{1}}, {2, 0, []uint16{2}}})
		if fmt.Sprint(groups) != wantGroups {
			t.Fatalf("node %d RTPG %v, want %v", i, groups, wantGroups)
		}
		t.Logf("node %d (%s): SendTargets %v, TPGT %d, RTPG %v", i, d.addr, addrs, s.Params.TargetPortalGroupTag, groups)
	}
	// The same data through both nodes: written through A, read through B.
	sA, sB := gwDial(t, nodes[0].addr, false, 20), gwDial(t, nodes[1].addr, false, 21)
	data := []byte(strings.Repeat("gateway!", 512))
	if err := retryUnitAttention(func() error { return sA.Write(uint64(testLUN), 64, data, gwBlock, true) }); err != nil {
		t.Fatal(err)
	}
	got, err := func() (b []byte, err error) {
		err = retryUnitAttention(func() error { b, err = sB.Read(uint64(testLUN), 64, 8, gwBlock); return err })
		return
	}()
	if err != nil || string(got) != string(data) {
		t.Fatalf("read through B of a write through A: %v", err)
	}
}

// multipathCUTests are the SCSI.MultipathIO tests run across two nodes on a file.
// Reset is left out: it checks that a LOGICAL UNIT RESET through one path raises a
// unit attention on every path, which across nodes needs the event channel between
// them that only RBD LUNs have (README, "Several gateways").
var multipathCUTests = []string{"SCSI.MultipathIO.Simple", "SCSI.MultipathIO.CompareAndWrite", "SCSI.MultipathIO.CompareAndWriteAsync"}

// runMultipathCU runs libiscsi's multipath tests with one path through each node and
// fails on whatever cuProblems finds, including a skip: each test must pass.
func runMultipathCU(t *testing.T, a, b *daemon, tests []string) {
	t.Helper()
	cu := requireLibiscsi(t, "iscsi-test-cu")
	skips := expectedSkips(t)
	for _, name := range tests {
		// Only "all" and "writable": the MultipathIO skips are listed for single-path
		// runs, so each of these tests must pass.
		res := runCU(t, cu, cuRunTimeout, "multipath", name, nil, []string{a.url(defaultIQN, testLUN), b.url(defaultIQN, testLUN)},
			skips, []string{"all", "writable"})
		t.Logf("%s across two nodes: %v (passed %v, skipped %v)", name, res, res.Passed, res.Skipped)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestGatewaysMultipathIO: libiscsi's multipath tests with one path through node A
// and one through node B, on a file both serve.
func TestGatewaysMultipathIO(t *testing.T) {
	g := newGateways(t, sharedFileLUN(t, 64<<20), cuInitiator1, cuInitiator2)
	runMultipathCU(t, g.start(t, 0), g.start(t, 1), multipathCUTests)
}

// TestGatewaysSCSISuite: libiscsi's SCSI family through node A of two gateways (a
// file LUN): ALUA reported (TPGS, RTPG, REPORT SUPPORTED OPERATION CODES listing
// it) must pass what the single-node target passes.
func TestGatewaysSCSISuite(t *testing.T) {
	cu := requireLibiscsi(t, "iscsi-test-cu")
	skips := expectedSkips(t)
	g := newGateways(t, sharedFileLUN(t, 1<<30), cuInitiator1, cuInitiator2)
	a := g.start(t, 0)
	res := runCU(t, cu, cuRunTimeout, "gateway", "SCSI", nil, []string{a.url(defaultIQN, testLUN)},
		skips, []string{"all", "writable", "thin", "single-path", "no-sanitize"})
	t.Logf("SCSI family through a gateway node: %v", res)
}
