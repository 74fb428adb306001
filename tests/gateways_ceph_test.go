//go:build ceph

package tests

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/cephtest"
	"github.com/atgt/atgt/tests/initiator"
)

// rbdFailoverBound is the failover time the README documents for the test cluster
// (osd client watch timeout 10 s, plus the lock break and the initiator's
// reconnection), with margin for a loaded machine.
const rbdFailoverBound = 20 * time.Second

// rbdGateways configures nodes A and B to export one new RBD image.
func rbdGateways(t *testing.T, initiators ...string) *gateways {
	c := cephtest.Shared(t)
	image := c.Image(t, 64<<20)
	return newGateways(t, gwLun{ID: testLUN, Backend: "rbd", Workers: 8, WriteCache: true, IoTimeout: 60,
		Rbd: &gwRbd{Pool: "rbd", Image: image, User: "admin", CephConf: c.Conf}}, initiators...)
}

// awaitOptimized polls REPORT TARGET PORT GROUPS through s until group want is
// active/optimized, and returns how long that took.
func awaitOptimized(t *testing.T, s *initiator.Session, want uint16, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		for _, g := range reportTargetPortGroups(t, s) {
			if g.ID == want && g.State == 0 {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %d not active/optimized within %v: %v", want, within, reportTargetPortGroups(t, s))
	return 0
}

// TestGatewayFailoverRBD: the kill-a-gateway test on an RBD image. Checksummed FUA
// writes through node A, which takes the image's exclusive lock (its group turns
// active/optimized); SIGKILL of A; the initiator goes on through B, whose librbd
// breaks the dead owner's lock once its watch has timed out and blocklists it; every
// write acknowledged before or after the kill reads back intact; A restarted, the
// initiator fails back and the lock moves back to A.
func TestGatewayFailoverRBD(t *testing.T) {
	g := rbdGateways(t)
	stall := runFailoverRBD(t, g)
	t.Logf("RBD failover: writes resumed through B %v after SIGKILL of A (bound %v)", stall, rbdFailoverBound)
}

// runFailoverRBD is runFailover with the ALUA states checked on the way: the lock
// owner's group is active/optimized as seen through the other node.
func runFailoverRBD(t *testing.T, g *gateways) time.Duration {
	isid := byte(40)
	return runFailover(t, g, rbdFailoverBound, func(phase string) {
		// The node holding the lock reports its own group active/optimized.
		node, group := 1, uint16(2)
		if phase == "failback" {
			node, group = 0, 1
		}
		isid++
		d := awaitOptimized(t, gwDial(t, g.portals[node], false, isid), group, 10*time.Second)
		t.Logf("after the %s, node %d reports its group %d active/optimized (%v)", phase, node, group, d)
	})
}

// TestGatewayHungNodeRBD: a node that hangs with writes in flight (SIGSTOP) and
// wakes up after the initiator moved on: its late writes must not land over the
// newer ones written through B. librbd on B breaks A's lock and blocklists A, so the
// OSDs refuse A's writes when it wakes. Then A comes back by itself: it notices the
// blocklist, ends its sessions, reopens the image on a new client, and within a
// bounded time reads through A return what B wrote and writes through A land.
func TestGatewayHungNodeRBD(t *testing.T) {
	g := rbdGateways(t)
	a := g.start(t, 0)
	g.start(t, 1)
	// The initiator gives up on a command after 12 s, longer than the lock break takes.
	f, err := initiator.DialFailover(g.portals[:], initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0xf1, 0, 0, 0, 1}, Timeout: 12 * time.Second}, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Another session of A, idle until A hangs: the write it sends then waits unread
	// in A's socket buffer, as the commands of an initiator that gave up on A would.
	s0, err := initiator.Dial(g.portals[0], initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0xf3, 0, 0, 0, 1}, Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s0.Close()
	passUnitAttention(t, s0)
	load := startLoad(f)
	time.Sleep(2 * time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	buffered := sendUnread(s0)
	before := load.count.Load()
	// Writes go on through B once the initiator gave up on A and B has the lock.
	for load.count.Load() < before+int64(20*fovWriters) {
		if time.Since(stopped) > 60*time.Second {
			t.Fatalf("writes did not go on through B within 60 s: %v", load.end())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writes went on through B %v after A hung", time.Since(stopped).Round(time.Millisecond))
	if err := fovWrite(f, bufferedLBA, fovBlock(bufferedLBA, 2)); err != nil { // newer than the one A holds unread
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // newer writes over the blocks A had in flight
	fa, woke := wakeFirst(t, g, a, 0xf2)
	defer fa.Close()
	firstRead := make(chan error, 1)
	go func() {
		_, err := fa.Command(uint64(testLUN), read16(0, 1), nil, gwBlock)
		firstRead <- err
	}()
	var first time.Duration
	select {
	case err := <-firstRead:
		if err != nil {
			t.Fatalf("no read through A within %v of waking it: %v", rbdRecoveryBound, err)
		}
		first = time.Since(woke)
	case <-time.After(rbdRecoveryBound + 10*time.Second):
		t.Fatalf("no answer to a read through A within %v of waking it", rbdRecoveryBound+10*time.Second)
	}
	time.Sleep(3 * time.Second) // A's late writes, if any could land, land now
	// What A did with the writes it held when it hung: refused by the cluster.
	var late []string
	for _, line := range strings.Split(a.stderr.String(), "\n") {
		if strings.Contains(line, "task ended badly") && strings.Contains(line, "opcode=0x8a") {
			late = append(late, line)
		}
	}
	t.Logf("node A after it woke up: %d writes failed; first: %q", len(late), firstOf(late))
	if err := load.end(); err != nil {
		t.Fatal(err)
	}
	load.verify(t, f, "B after A woke up")
	checkUnread(t, buffered)
	out, _ := exec.Command("timeout", "20", "ceph", "-c", cephtest.Shared(t).Conf, "osd", "blocklist", "ls").CombinedOutput()
	t.Logf("%d writes; blocklist:\n%s", load.count.Load(), out)
	hungNodeRecovers(t, g, a, load, f, fa, s0, first)
}

// bufferedLBA is the block of the write A holds unread while it hangs, outside the
// load's blocks.
const bufferedLBA = 4 * fovWriters * fovSpan

// passUnitAttention sends TEST UNIT READY through s until it is answered GOOD, so
// that the session's next command meets no pending unit attention (a new nexus has
// POWER ON pending, which would answer the command before it reached the backend).
func passUnitAttention(t *testing.T, s *initiator.Session) {
	t.Helper()
	if err := retryUnitAttention(func() error { return s.TestUnitReady(uint64(testLUN)) }); err != nil {
		t.Fatal(err)
	}
}

// sendUnread sends write 1 of bufferedLBA (FUA) through s, a session of a node that
// has been stopped, so that the command waits unread in the node's socket buffer as
// the commands of an initiator that gave up on the node would (s must have no unit
// attention pending: passUnitAttention). The channel gets errGood if it is answered
// GOOD, else how it ended.
func sendUnread(s *initiator.Session) <-chan error {
	ch := make(chan error, 1)
	go func() {
		r, err := s.Command(uint64(testLUN), write16FUA(bufferedLBA), fovBlock(bufferedLBA, 1), 0)
		switch {
		case err == nil && r.Status == scsi.StatusGood:
			err = errGood
		case err == nil:
			err = &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
		}
		ch <- err
	}()
	return ch
}

// unreadNeverLanded checks that the write sendUnread sent never landed: through
// each of vias, bufferedLBA holds write 2, written through another node after it.
func unreadNeverLanded(t *testing.T, vias ...*initiator.Failover) {
	t.Helper()
	for _, via := range vias {
		r, err := via.Command(uint64(testLUN), read16(bufferedLBA, 1), nil, gwBlock)
		if err != nil {
			t.Fatal(err)
		}
		if seq, err := fovCheck(r.Data, bufferedLBA); err != nil || seq != 2 {
			t.Fatalf("LBA %d through %s: write %d (%v), want the newer write 2", bufferedLBA, via.Portal(), seq, err)
		}
	}
}

// wakeFirst wakes the stopped node a (the first of g) and dials an initiator of a
// alone, with an ISID ending in isid, from the moment it wakes: NOT READY while a
// reopens is retried, and a session a ends as it notices the blocklist is logged in
// again. It returns the initiator and when the node was woken.
func wakeFirst(t *testing.T, g *gateways, a *daemon, isid byte) (*initiator.Failover, time.Time) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	woke := time.Now()
	fa, err := initiator.DialFailover(g.portals[:1], initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, isid, 0, 0, 0, 1}, Timeout: 10 * time.Second}, rbdRecoveryBound)
	if err != nil {
		t.Fatal(err)
	}
	return fa, woke
}

// read16 is READ(16) of n blocks at lba.
func read16(lba uint64, n uint32) []byte {
	cdb := make([]byte, 16)
	cdb[0] = 0x88
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], n)
	return cdb
}

// checkUnread checks the write sendUnread sent once the node has woken: never
// answered GOOD (newer data was written through another node since), and answered
// or its connection closed within 30 s.
func checkUnread(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		if errors.Is(err, errGood) {
			t.Fatal("the write A held unread while it was stopped was answered GOOD after it woke")
		}
		t.Logf("the write A held unread: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the write A held unread was not answered, nor its connection closed, 30 s after A woke")
	}
}

// errGood marks a command answered GOOD where it must not be.
var errGood = errors.New("answered GOOD")

// write16FUA is WRITE(16) of one block at lba, FUA.
func write16FUA(lba uint64) []byte {
	cdb := make([]byte, 16)
	cdb[0], cdb[1] = 0x8A, 0x08
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], 1)
	return cdb
}

// rbdRecoveryBound is how soon after it wakes a blocklisted node must serve again:
// noticing the blocklist (at once, or within the poller's second), ending its
// sessions, reopening the image on a new client, with margin for a loaded machine.
const rbdRecoveryBound = 20 * time.Second

// hungNodeRecovers checks that node a, whose client was blocklisted while it hung,
// serves again by itself: its first read was answered GOOD first after SIGCONT;
// reads through it (fa) hold the newer data written through B (f); its group is
// active/non-optimized until writes through it land and take the lock back.
func hungNodeRecovers(t *testing.T, g *gateways, a *daemon, load *fovLoad, f, fa *initiator.Failover, s0 *initiator.Session, first time.Duration) {
	t.Helper()
	load.verify(t, fa, "A after it reopened the image")
	rtpgA := gwDial(t, g.portals[0], false, 0x77)
	for _, grp := range reportTargetPortGroups(t, rtpgA) {
		if grp.ID == 1 && grp.State != 1 {
			t.Errorf("A reopened, before any write through it: its group in state %d, want 1 (active/non-optimized)", grp.State)
		}
	}
	// Writes through A land (A's new client takes the lock back from B).
	back := startLoad(fa)
	for i := range back.acked {
		back.acked[i].Store(load.acked[i].Load())
	}
	back.seq.Store(load.seq.Load())
	time.Sleep(2 * time.Second)
	if err := back.end(); err != nil {
		t.Fatalf("writes through A after it came back: %v", err)
	}
	if back.count.Load() == 0 {
		t.Fatal("no write through A after it came back")
	}
	back.verify(t, f, "B after writes through the reopened A")
	unreadNeverLanded(t, fa, f)
	if s0.Err() == nil {
		t.Error("A's session of before the blocklist is still open")
	}
	d := awaitOptimized(t, rtpgA, 1, 10*time.Second)
	t.Logf("A's group active/optimized %v after the writes through it", d)
	logs := a.stderr.String()
	for _, want := range []string{"backend fenced off by the cluster", "backend reopened on a new client"} {
		if !strings.Contains(logs, want) {
			t.Errorf("node A did not log %q", want)
		}
	}
	t.Logf("node A served again %v after SIGCONT (first read answered GOOD); %d writes through it, switches %+v",
		first.Round(time.Millisecond), back.count.Load(), fa.Switches())
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "fenced off") || strings.Contains(line, "reopen") {
			t.Logf("A: %s", line)
		}
	}
}

// TestGatewaysMultipathIORBD: libiscsi's multipath tests, Reset included, with one
// path through each node of an RBD image, all on the same two gateways.
//
// The tests write through both paths at once, so the image's lock moves at their
// writes; when it stays with one node for alua_hold_seconds the reported states
// follow it, and SPC-4 has ASYMMETRIC ACCESS STATE CHANGED established for every
// I_T nexus. libiscsi's tests take any unit attention in the middle of a test as a
// failure (CompareAndWriteAsync's 2,000 racing CAWs, 7-9 s here, met one in one run
// of three with the default 3 s hold: one node's CAWs waited that long for the lock).
// A host that writes through every path at once is what a longer hold is for, so
// the nodes here hold for 10 minutes; TestGatewayFailoverRBD keeps the default.
func TestGatewaysMultipathIORBD(t *testing.T) {
	g := rbdGateways(t, cuInitiator1, cuInitiator2)
	for i := range g.cfg {
		g.cfg[i].Targets[0].AluaHoldSeconds = 600
	}
	a, b := g.start(t, 0), g.start(t, 1)
	runMultipathCU(t, a, b, append(multipathCUTests, "SCSI.MultipathIO.Reset"))
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestGatewayRBDNeedsExclusiveLock: atgtd refuses to serve an RBD image without the
// exclusive-lock feature through gateways (port groups): without the lock, a hung
// node is never fenced and its late writes could land over newer ones written
// through another node. The error names the image and the command that enables the
// feature. One node alone serves it (with a warning).
func TestGatewayRBDNeedsExclusiveLock(t *testing.T) {
	c := cephtest.Shared(t)
	image := "gw-e2e-nolock"
	_ = c.RBD("rm", "--no-progress", "rbd/"+image)
	if err := c.RBD("create", "--size", "16M", "--image-feature", "layering", "rbd/"+image); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.RBD("rm", "--no-progress", "rbd/"+image) })
	lun := gwLun{ID: testLUN, Backend: "rbd", Workers: 2, Rbd: &gwRbd{Pool: "rbd", Image: image, User: "admin", CephConf: c.Conf}}
	g := newGateways(t, lun)
	b, err := json.Marshal(g.cfg[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "atgt.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, atgtdBin, "-config", path, "-data", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("atgtd served a gateways' image without exclusive-lock (err=%v):\n%s", err, out)
	}
	if want := "rbd feature enable rbd/" + image + " exclusive-lock"; !strings.Contains(string(out), want) {
		t.Fatalf("error does not say %q:\n%s", want, out)
	}
	single := g.cfg[0]
	single.Targets = []gwTarget{{Name: defaultIQN, Luns: []gwLun{lun}}}
	d := startDaemonConfig(t, single)
	d.stop(t)
	d.stopped = true
	if !strings.Contains(d.stderr.String(), "has no exclusive-lock feature") {
		t.Fatalf("single node: no warning of the missing feature:\n%s", d.stderr)
	}
}
