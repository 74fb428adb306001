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
// there, and all three show A's group, never two optimized groups on the way.
func TestGatewaysThreeRBDOwner(t *testing.T) {
	c := cephtest.Shared(t)
	image := c.Image(t, 64<<20)
	g := newGatewaysOn(t, []string{gwHostA, gwHostB, gwHostC}, gwLun{ID: testLUN, Backend: "rbd", Workers: 4,
		WriteCache: true, IoTimeout: 60, Rbd: &gwRbd{Pool: "rbd", Image: image, User: "admin", CephConf: c.Conf}})
	ss := make([]*initiator.Session, len(g.cfg))
	nodes := make([]*daemon, len(g.cfg))
	for i := range g.cfg {
		nodes[i] = g.start(t, i)
	}
	for i := range g.cfg {
		ss[i] = gwDial(t, g.portals[i], false, byte(60+i))
	}
	// No node holds the lock yet: each reports the others optimized (it cannot
	// tell which other node will take it).
	for i, s := range ss {
		want := []uint16{1, 2, 3}
		want = slices.Delete(want, i, i+1)
		if opt := optimizedGroups(reportTargetPortGroups(t, s)); !slices.Equal(opt, want) {
			t.Fatalf("before any write, node %d reports %v optimized, want %v", i+1, opt, want)
		}
	}
	d := moveLock(t, ss, 2, false)
	t.Logf("after a write through C, every node reports only group 3 optimized within %v", d)
	d = moveLock(t, ss, 0, true)
	t.Logf("after a write through A, every node reports only group 1 optimized within %v", d)
	for i, n := range nodes {
		for _, line := range strings.Split(n.stderr.String(), "\n") {
			if strings.Contains(line, "ALUA") {
				t.Logf("node %d: %s", i+1, line)
			}
		}
	}
}

// moveLock writes through node writer, then polls REPORT TARGET PORT GROUPS through
// every node until each reports the writer's group as the only optimized one, and
// each has raised ASYMMETRIC ACCESS STATE CHANGED; strict: no report on the way
// may show more than one optimized group. It returns how long the slowest node took.
func moveLock(t *testing.T, ss []*initiator.Session, writer int, strict bool) time.Duration {
	t.Helper()
	group := uint16(writer + 1)
	data := bytes.Repeat([]byte{byte(writer + 1)}, 8*gwBlock)
	if err := retryUnitAttention(func() error { return ss[writer].Write(uint64(testLUN), 128, data, gwBlock, true) }); err != nil {
		t.Fatalf("write through node %d: %v", writer+1, err)
	}
	start := time.Now()
	took := make([]time.Duration, len(ss))
	sawUA := make([]bool, len(ss))
	for {
		pending := 0
		for i, s := range ss {
			if took[i] != 0 {
				continue
			}
			groups, err := rtpgOnce(t, s)
			var se *initiator.SCSIError
			switch {
			case errors.As(err, &se) && se.Key() == scsi.SenseUnitAttention:
				if se.ASC() == 0x2A && se.ASCQ() == 0x06 {
					sawUA[i] = true
				}
				pending++
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
				continue
			}
			pending++
		}
		if pending == 0 {
			break
		}
		if time.Since(start) > ownerBound {
			var state []string
			for i, s := range ss {
				state = append(state, fmt.Sprintf("node %d: %v optimized (UA %v)", i+1, optimizedGroups(reportTargetPortGroups(t, s)), sawUA[i]))
			}
			t.Fatalf("group %d not the only optimized one on every node within %v: %v", group, ownerBound, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("lock to group %d: nodes reported it after %v", group, took)
	return slices.Max(took)
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
