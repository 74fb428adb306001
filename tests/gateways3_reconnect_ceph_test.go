//go:build ceph

package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/cephtest"
	"github.com/atgt/atgt/tests/initiator"
)

// TestGatewaysThreeRBDReconnect: three nodes export one RBD image as groups 1, 2 and
// 3, and the node holding the lock is fenced off and comes back (README "A
// blocklisted node comes back by itself"). A write through A takes the lock; A is
// stopped with SIGSTOP while it has writes in flight (checksummed FUA writes from a
// failover initiator, and a session of its own that writes until a write is not
// answered GOOD); the failover initiator moves on to B, whose librbd breaks A's lock
// and blocklists A's client, and writes newer data there; B and C then report B's
// group. A is woken with SIGCONT: the writes it held are never answered GOOD unless
// the cluster took them (read back through C), a write it held unread never lands,
// it reopens the image on a new client by itself, and reads through it return
// every block's last acknowledged write, written through B. Then a write through A
// takes the lock back, and every node reports A's group. All the while REPORT
// TARGET PORT GROUPS is polled through every node (logging in again whenever a
// node ends the session): every answer shows exactly one active/optimized group,
// and each node's reports follow the lock's holders in order (A, B, A), never C.
func TestGatewaysThreeRBDReconnect(t *testing.T) {
	began := time.Now()
	g, ss := threeRBDNodes(t, 5)
	a := g.nodes[0]
	all := []int{0, 1, 2}
	_, d := moveLock(t, ss, 0, all, false)
	t.Logf("A holds the lock: every node reports only group 1 optimized within %v", d)
	w := watchRTPG(g.gateways, 6)
	defer w.end()

	// The initiator gives up on a command after 12 s, longer than the lock break
	// takes (the watch timeout, 10 s), and then goes on through B.
	f, err := initiator.DialFailover(g.portals, initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0xf5, 0, 0, 0, 1}, Timeout: 12 * time.Second}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s0 := g.dial(t, 0, 7, 60*time.Second) // idle until A hangs
	held := startHeldWrites(g.dial(t, 0, 8, 60*time.Second))
	load := startLoad(f)
	loaded := time.Now()
	for load.count.Load() < int64(8*fovWriters) || held.count.Load() < 8 {
		select {
		case <-held.done:
			t.Fatalf("a write through A's session: %v (%v)", held.err, load.end())
		default:
		}
		if time.Since(loaded) > 10*time.Second {
			t.Fatalf("writes through A in 10 s: %d of the load, %d of A's session: %v", load.count.Load(), held.count.Load(), load.end())
		}
		time.Sleep(20 * time.Millisecond)
	}
	passUnitAttention(t, s0)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer a.cmd.Process.Signal(syscall.SIGCONT) // a failure below must not leave A stopped
	heldBefore, seqAtStop := held.count.Load(), load.seq.Load()
	buffered := sendUnread(s0)
	before := load.count.Load()
	for load.count.Load() < before+int64(20*fovWriters) {
		if time.Since(stopped) > 40*time.Second {
			t.Fatalf("writes did not go on through another node within 40 s of stopping A: %v", load.end())
		}
		time.Sleep(20 * time.Millisecond)
	}
	through := time.Since(stopped)
	if err := fovWrite(f, bufferedLBA, fovBlock(bufferedLBA, 2)); err != nil { // newer than the one A holds unread
		t.Fatal(err)
	}
	if err := load.end(); err != nil {
		t.Fatal(err)
	}
	if f.Portal() != g.portals[1] {
		t.Fatalf("with A stopped the initiator writes through %s, want B (%s)", f.Portal(), g.portals[1])
	}
	d = w.await(t, []int{1, 2}, 2, ownerBound)
	t.Logf("A stopped: writes went on through B after %v; B and C reported only group 2 optimized %v later",
		through.Round(time.Millisecond), d.Round(time.Millisecond))

	fa, woke := wakeFirst(t, g.gateways, a, 0xf6)
	defer fa.Close()
	if _, err := fa.Command(uint64(testLUN), read16(0, 1), nil, gwBlock); err != nil {
		t.Fatalf("no read through A within %v of waking it: %v", rbdRecoveryBound, err)
	}
	served := time.Since(woke)
	// Writes numbered after the stop were acknowledged through B (A was stopped
	// until the load ended).
	byB := 0
	for i := range load.acked {
		if load.acked[i].Load() > seqAtStop {
			byB++
		}
	}
	if byB == 0 {
		t.Fatal("no block's last write was acknowledged through B")
	}
	load.verify(t, fa, "A after it woke")
	t.Logf("reads through A: every block holds its last acknowledged write, %d of them written through B", byB)
	fc, err := initiator.DialFailover(g.portals[2:], initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0xf7, 0, 0, 0, 1}, Timeout: 10 * time.Second}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	load.verify(t, fc, "C")
	held.check(t, fc, heldBefore)
	checkUnread(t, buffered)
	unreadNeverLanded(t, fa, fc)
	logs := a.stderr.String()
	for _, want := range []string{"backend fenced off by the cluster", "backend reopened on a new client"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("node A did not log %q", want)
		}
	}
	if ss[0].Err() == nil {
		t.Fatal("A's session of before the fence is still open")
	}
	old, now := newLockClient(t, g, logs)
	t.Logf("A's RADOS client %s blocklisted; A now on %s, not blocklisted", old, now)
	ss[0] = g.dial(t, 0, 9, 30*time.Second)
	wr, d := moveLock(t, ss, 0, all, true)
	t.Logf("A woken: served a read %v after SIGCONT; a write through it took %v, then every node reported only group 1 optimized within %v",
		served.Round(time.Millisecond), wr.Round(time.Millisecond), d.Round(time.Millisecond))
	w.check(t, woke, []uint16{1, 2, 1})
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "fenced off") || strings.Contains(line, "reopen") {
			t.Logf("A: %s", line)
		}
	}
	t.Logf("whole test: %v", time.Since(began).Round(time.Millisecond))
}

// blocklistedClient finds, in a node's log, the RADOS client the cluster fenced off.
var blocklistedClient = regexp.MustCompile(`RADOS client (\S+) blocklisted by the cluster`)

// newLockClient checks that node A reopened its image on a new RADOS client: the
// client its log names as fenced off is on the cluster's blocklist, and the client
// A publishes in the image's gateway directory (README "Several gateways") is
// another one, not blocklisted. It returns both.
func newLockClient(t *testing.T, g *rbdGateways3, logs string) (old, now string) {
	t.Helper()
	m := blocklistedClient.FindStringSubmatch(logs)
	if m == nil {
		t.Fatal("node A's log names no blocklisted client")
	}
	old = m[1]
	c := cephtest.Shared(t)
	list, err := c.Ceph("osd", "blocklist", "ls")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, old+" ") {
		t.Fatalf("A's old client %s is not on the blocklist:\n%s", old, list)
	}
	obj := "atgt.events." + g.cfg[0].Targets[0].Luns[0].Rbd.Image
	out := filepath.Join(t.TempDir(), "gateway.1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		msg, err := exec.CommandContext(ctx, "rados", "-c", c.Conf, "-p", "rbd", "getomapval", obj, "gateway.1", out).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("rados getomapval %s gateway.1: %v\n%s", obj, err, msg)
		}
		b, _ := os.ReadFile(out)
		if now = string(b); now != "" && now != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A still publishes client %q 10 s after it reopened (blocklisted: %s)", now, old)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(list, now+" ") {
		t.Fatalf("A's new client %s is on the blocklist:\n%s", now, list)
	}
	return old, now
}

// heldLBA is the first of heldSpan blocks that only heldWrites writes, beyond the
// load's blocks and bufferedLBA.
const (
	heldLBA  = bufferedLBA + 8
	heldSpan = 8
)

// heldWrites writes checksummed FUA blocks over its own blocks through one session of
// a node, one at a time, until a write is not answered GOOD. When the node is
// stopped, the write in flight (or the next, unread in the socket) is one the node
// holds.
type heldWrites struct {
	s     *initiator.Session
	good  [heldSpan]atomic.Uint64 // the last write answered GOOD per block; 0: none
	count atomic.Int64
	done  chan struct{}
	// The write not answered GOOD, valid after done.
	lba, seq uint64
	err      error
}

func startHeldWrites(s *initiator.Session) *heldWrites {
	h := &heldWrites{s: s, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for i := 0; ; i++ {
			lba, seq := heldLBA+uint64(i%heldSpan), uint64(i+1)
			err := retryUnitAttention(func() error {
				r, err := s.Command(uint64(testLUN), write16FUA(lba), fovBlock(lba, seq), 0)
				if err == nil && r.Status != scsi.StatusGood {
					err = &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
				}
				return err
			})
			if err != nil {
				h.lba, h.seq, h.err = lba, seq, err
				return
			}
			h.good[i%heldSpan].Store(seq)
			h.count.Add(1)
		}
	}()
	return h
}

// check waits for the writer to meet a write not answered GOOD after the node woke,
// and checks that this answer is one the README allows of a fenced node (MEDIUM
// ERROR from the fenced client, NOT READY: TARGET PORT IN UNAVAILABLE STATE, or
// BECOMING READY for a read the fenced client refused before the LUN knew, or the
// session ended) and that every
// write answered GOOD, before or after the hang, is on the image (read through c):
// a node must never answer GOOD for a write the cluster did not take. The failed
// write may have landed (taken before the hang, its answer lost).
func (h *heldWrites) check(t *testing.T, c *initiator.Failover, before int64) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the session of A that wrote when A was stopped got no answer but GOOD 30 s after A woke")
	}
	var se *initiator.SCSIError
	switch {
	case errors.As(h.err, &se) && (se.Key() == scsi.SenseMediumError ||
		se.Key() == scsi.SenseNotReady && se.ASC() == 0x04 && (se.ASCQ() == 0x01 || se.ASCQ() == 0x0C)):
	case errors.Is(h.err, initiator.ErrClosed) || h.s.Err() != nil:
	default:
		t.Fatalf("the write A held (LBA %d, write %d): %v, want MEDIUM ERROR, NOT READY or the session ended", h.lba, h.seq, h.err)
	}
	r, err := c.Command(uint64(testLUN), read16(heldLBA, heldSpan), nil, heldSpan*gwBlock)
	if err != nil {
		t.Fatal(err)
	}
	for i := range heldSpan {
		lba, want := heldLBA+uint64(i), h.good[i].Load()
		got, err := fovCheck(r.Data[i*gwBlock:(i+1)*gwBlock], lba)
		switch {
		case err != nil && want != 0:
			t.Fatalf("LBA %d, whose write %d A answered GOOD: %v", lba, want, err)
		case err == nil && got != want && !(lba == h.lba && got == h.seq):
			t.Fatalf("LBA %d holds write %d; A answered GOOD for write %d there, and failed write %d at LBA %d", lba, got, want, h.seq, h.lba)
		}
	}
	t.Logf("the session of A: %d writes answered GOOD before SIGSTOP, %d after; then write %d (LBA %d): %v; every GOOD one on the image",
		before, h.count.Load()-before, h.seq, h.lba, h.err)
}

// rtpgPoll is one REPORT TARGET PORT GROUPS answer: when, and its active/optimized
// groups.
type rtpgPoll struct {
	at  time.Time
	opt []uint16
}

// rtpgWatch polls REPORT TARGET PORT GROUPS through every node, each from its own
// goroutine and session, so that a stopped node stalls only its own; a session that
// ends or times out is replaced by a new login. Unit attentions are passed over.
type rtpgWatch struct {
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	polls    [][]rtpgPoll
	notReady []int // NOT READY (04/01) answers per node
	// unavailable counts the answers per node that showed the node's own group
	// unavailable (fenced: it shows the others as they were, and no guess).
	unavailable []int
	bad         []string // other answers that are not GOOD, or do not parse
}

// rtpgWatchEvery is the pause between two polls through one node.
const rtpgWatchEvery = 50 * time.Millisecond

// watchRTPG starts polling through every node of g (ISID 80 9a 00 00 isid node).
func watchRTPG(g *gateways, isid byte) *rtpgWatch {
	w := &rtpgWatch{stop: make(chan struct{}), polls: make([][]rtpgPoll, len(g.portals)), notReady: make([]int, len(g.portals)),
		unavailable: make([]int, len(g.portals))}
	for i, p := range g.portals {
		o := initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
			ISID: [6]byte{0x80, 0x9a, 0, 0, isid, byte(i)}, Timeout: 2 * time.Second}
		w.wg.Add(1)
		go w.poll(i, p, o)
	}
	return w
}

func (w *rtpgWatch) poll(i int, portal string, o initiator.Options) {
	defer w.wg.Done()
	var s *initiator.Session
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		if s == nil {
			ns, err := initiator.Dial(portal, o)
			if err != nil {
				w.pause()
				continue
			}
			s = ns
		}
		groups, err := rtpgSend(s)
		var se *initiator.SCSIError
		switch {
		case errors.As(err, &se) && se.Key() == scsi.SenseUnitAttention:
			continue
		case se != nil && se.Key() == scsi.SenseNotReady && se.ASC() == 0x04 && se.ASCQ() == 0x01:
			w.mu.Lock() // a fenced node's answer to every command until it has reopened
			w.notReady[i]++
			w.mu.Unlock()
		case err != nil && (se != nil || errors.Is(err, errRTPGMalformed)):
			w.mu.Lock()
			w.bad = append(w.bad, fmt.Sprintf("node %d: %v", i+1, err))
			w.mu.Unlock()
		case err != nil: // the session ended or timed out: log in again
			s.Close()
			s = nil
			continue
		case ownUnavailable(groups, uint16(i+1)):
			// A fenced node: its group unavailable, the others as they were.
			w.mu.Lock()
			w.unavailable[i]++
			if opt := optimizedGroups(groups); len(opt) > 1 {
				w.bad = append(w.bad, fmt.Sprintf("node %d, unavailable: %v optimized", i+1, opt))
			}
			w.mu.Unlock()
		default:
			w.mu.Lock()
			w.polls[i] = append(w.polls[i], rtpgPoll{at: time.Now(), opt: optimizedGroups(groups)})
			w.mu.Unlock()
		}
		w.pause()
	}
}

// ownUnavailable reports whether groups show group own in the unavailable state.
func ownUnavailable(groups []rtpgGroup, own uint16) bool {
	for _, g := range groups {
		if g.ID == own && g.State == 0x3 {
			return true
		}
	}
	return false
}

func (w *rtpgWatch) pause() {
	select {
	case <-w.stop:
	case <-time.After(rtpgWatchEvery):
	}
}

// await waits until the latest answer through each of nodes shows group as the only
// active/optimized one, and returns how long that took.
func (w *rtpgWatch) await(t *testing.T, nodes []int, group uint16, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		w.mu.Lock()
		var off []string
		for _, i := range nodes {
			if p := w.polls[i]; len(p) == 0 || !slices.Equal(p[len(p)-1].opt, []uint16{group}) {
				off = append(off, fmt.Sprintf("node %d", i+1))
			}
		}
		w.mu.Unlock()
		if len(off) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%v did not report group %d as the only optimized one within %v", off, group, within)
		}
		time.Sleep(rtpgWatchEvery)
	}
}

// end stops the pollers and returns every node's answers.
func (w *rtpgWatch) end() [][]rtpgPoll {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
	return w.polls
}

// check stops the pollers and checks every answer: exactly one active/optimized
// group (an answer of a node showing itself unavailable, fenced, is counted apart
// and may show none, never two), and through each node the groups in the order the lock had them
// (holders, a group repeated for each time it took the lock). woke is when the
// stopped node was woken, for the log.
func (w *rtpgWatch) check(t *testing.T, woke time.Time, holders []uint16) {
	t.Helper()
	polls := w.end()
	for _, b := range w.bad {
		t.Errorf("RTPG answer neither GOOD nor a unit attention: %s", b)
	}
	for i, ps := range polls {
		var seq []uint16
		var afterWake []string
		wrong := 0
		for _, p := range ps {
			if len(p.opt) != 1 {
				if wrong++; wrong <= 5 {
					t.Errorf("node %d at %v after SIGCONT: %v optimized, want exactly one group", i+1, p.at.Sub(woke).Round(time.Millisecond), p.opt)
				}
				continue
			}
			if len(seq) == 0 || seq[len(seq)-1] != p.opt[0] {
				seq = append(seq, p.opt[0])
				if p.at.After(woke) {
					afterWake = append(afterWake, fmt.Sprintf("%d at %v", p.opt[0], p.at.Sub(woke).Round(time.Millisecond)))
				}
			}
		}
		if wrong > 0 {
			t.Errorf("node %d: %d of %d answers without exactly one optimized group", i+1, wrong, len(ps))
		}
		if !subsequence(seq, holders) {
			t.Errorf("node %d reported the optimized group as %v, not in the order the lock moved (%v)", i+1, seq, holders)
		}
		t.Logf("RTPG through node %d: %d answers, optimized group %v; changes after SIGCONT: %v; %d answered NOT READY; %d showed it unavailable",
			i+1, len(ps), seq, afterWake, w.notReady[i], w.unavailable[i])
	}
}

// subsequence reports whether s is a subsequence of of.
func subsequence(s, of []uint16) bool {
	j := 0
	for _, x := range s {
		for j < len(of) && of[j] != x {
			j++
		}
		if j == len(of) {
			return false
		}
		j++
	}
	return true
}
