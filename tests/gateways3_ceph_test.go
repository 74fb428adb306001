//go:build ceph

package tests

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/cephtest"
	"github.com/atgt/atgt/tests/initiator"
)

// ownerBound is how soon after a write moved the lock every node must report the
// new owner: the default hold (3 s) plus the poll (1 s), with margin for a loaded
// machine.
const ownerBound = 3*time.Second + time.Second + 3*time.Second

// TestGatewaysThreeRBDOwner: three nodes export one RBD image as groups 1, 2 and 3.
// A write through C moves the lock there, and REPORT TARGET PORT GROUPS through
// each of A, B and C then shows exactly one active/optimized group, C's, with
// ASYMMETRIC ACCESS STATE CHANGED on every node first; a write through A moves it
// there, and all three show A's group, never two optimized groups on the way. Then A
// dies holding the lock (SIGKILL): a write through B waits until B's librbd breaks
// the dead node's lock, and B and C then both show B's group.
func TestGatewaysThreeRBDOwner(t *testing.T) {
	g, ss := threeRBDNodes(t, 3)
	// No node holds the lock yet: each reports the others optimized (it cannot
	// tell which other node will take it).
	for i, s := range ss {
		want := []uint16{1, 2, 3}
		want = slices.Delete(want, i, i+1)
		if opt := optimizedGroups(reportTargetPortGroups(t, s)); !slices.Equal(opt, want) {
			t.Fatalf("before any write, node %d reports %v optimized, want %v", i+1, opt, want)
		}
	}
	all := []int{0, 1, 2}
	_, d := moveLock(t, ss, 2, all, false)
	t.Logf("after a write through C, every node reports only group 3 optimized within %v", d)
	_, d = moveLock(t, ss, 0, all, true)
	t.Logf("after a write through A, every node reports only group 1 optimized within %v", d)
	g.nodes[0].kill(t)
	w, d := moveLock(t, ss, 1, []int{1, 2}, true)
	t.Logf("A killed holding the lock: a write through B took %v (the dead owner's lock broken), then B and C reported only group 2 optimized within %v", w, d)
}

// rbdGateways3 is three nodes, A, B and C on 127.0.0.1-3 (groups 1, 2 and 3), with
// the nodes started.
type rbdGateways3 struct {
	*gateways
	nodes []*daemon
}

// threeRBDNodes starts nodes A, B and C exporting one new RBD image and logs in to
// each (ISID byte 4 is isid, byte 5 the node); the nodes' ALUA log lines are logged
// when t ends. The sessions wait long enough for a write that waits for a dead
// owner's lock to be broken.
func threeRBDNodes(t *testing.T, isid byte) (*rbdGateways3, []*initiator.Session) {
	t.Helper()
	c := cephtest.Shared(t)
	image := c.Image(t, 64<<20)
	g := &rbdGateways3{gateways: newGatewaysOn(t, []string{gwHostA, gwHostB, gwHostC}, gwLun{ID: testLUN, Backend: "rbd",
		Workers: 4, WriteCache: true, IoTimeout: 60, Rbd: &gwRbd{Pool: "rbd", Image: image, User: "admin", CephConf: c.Conf}})}
	for i := range g.cfg {
		g.nodes = append(g.nodes, g.start(t, i))
	}
	t.Cleanup(func() {
		for i, n := range g.nodes {
			for _, line := range strings.Split(n.stderr.String(), "\n") {
				if strings.Contains(line, "ALUA") {
					t.Logf("node %d: %s", i+1, line)
				}
			}
		}
	})
	ss := make([]*initiator.Session, len(g.cfg))
	for i := range g.cfg {
		ss[i] = g.dial(t, i, isid, 30*time.Second)
	}
	// Each new session's power-on UA (29/00) is taken now: left pending, it
	// supersedes an ASYMMETRIC ACCESS STATE CHANGED raised while it waits (SPC-4),
	// and moveLock, which asks every node for the latter, then waited in vain (a CI
	// run: node 3 saw the first write's lock move 4 ms after the test's login).
	for _, s := range ss {
		passUnitAttention(t, s)
	}
	return g, ss
}

// dial logs in to node i from the gateway test initiator, ISID 80 9a 00 00 isid i;
// the session is closed when t ends.
func (g *gateways) dial(t *testing.T, i int, isid byte, timeout time.Duration) *initiator.Session {
	t.Helper()
	s, err := initiator.Dial(g.portals[i], initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0x9a, 0, 0, isid, byte(i)}, Timeout: timeout})
	if err != nil {
		t.Fatalf("login to %s: %v", g.portals[i], err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// moveLock writes through node writer, then polls REPORT TARGET PORT GROUPS through
// the live nodes until each reports the writer's group as the only optimized one,
// and each has raised ASYMMETRIC ACCESS STATE CHANGED; strict: no report on the way
// may show more than one optimized group. It returns how long the write took and
// how long after it the slowest node took.
func moveLock(t *testing.T, ss []*initiator.Session, writer int, live []int, strict bool) (write, settled time.Duration) {
	t.Helper()
	group := uint16(writer + 1)
	data := bytes.Repeat([]byte{byte(writer + 1)}, 8*gwBlock)
	start := time.Now()
	if err := retryUnitAttention(func() error { return ss[writer].Write(uint64(testLUN), 128, data, gwBlock, true) }); err != nil {
		t.Fatalf("write through node %d: %v", writer+1, err)
	}
	write = time.Since(start)
	start = time.Now()
	took := map[int]time.Duration{}
	sawUA := map[int]bool{}
	for len(took) < len(live) {
		for _, i := range live {
			if _, ok := took[i]; ok {
				continue
			}
			groups, err := rtpgOnce(t, ss[i])
			var se *initiator.SCSIError
			switch {
			case errors.As(err, &se) && se.Key() == scsi.SenseUnitAttention:
				if se.ASC() == 0x2A && se.ASCQ() == 0x06 {
					sawUA[i] = true
				}
				continue
			case err != nil:
				t.Fatalf("RTPG through node %d: %v", i+1, err)
			}
			opt := optimizedGroups(groups)
			if strict && len(opt) != 1 {
				t.Fatalf("node %d reports %v optimized while the lock moves to group %d", i+1, opt, group)
			}
			if slices.Equal(opt, []uint16{group}) && sawUA[i] {
				took[i] = time.Since(start)
			}
		}
		if len(took) == len(live) {
			break
		}
		if time.Since(start) > ownerBound {
			var state []string
			for _, i := range live {
				state = append(state, fmt.Sprintf("node %d: %v optimized (UA %v)", i+1, optimizedGroups(reportTargetPortGroups(t, ss[i])), sawUA[i]))
			}
			t.Fatalf("group %d not the only optimized one on every node within %v: %v", group, ownerBound, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range took {
		settled = max(settled, d)
	}
	t.Logf("lock to group %d (write %v): nodes reported it after %v", group, write, took)
	return write, settled
}

// optimizedGroups lists the active/optimized groups of an RTPG answer.
func optimizedGroups(groups []rtpgGroup) []uint16 {
	var out []uint16
	for _, g := range groups {
		if g.State == 0 {
			out = append(out, g.ID)
		}
	}
	return out
}
