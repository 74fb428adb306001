package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// The target-wide Data-In budget (README "Connection limits", maxReadBufferMib) and
// the minimum drain rate, on the real atgtd over loopback. Adapted from the scale
// review's TestScaleSlowReaders and TestScaleSlowTrickle.

// readBudgetConfig is boundsConfig with maxReadBufferMib.
type readBudgetConfig struct {
	boundsConfig
	MaxReadBufferMib int `json:"maxReadBufferMib,omitempty"`
}

// qd1Latencies runs QD1 4 KiB reads on s for d and returns the sorted latencies.
func qd1Latencies(t *testing.T, s *initiator.Session, d time.Duration) []time.Duration {
	t.Helper()
	var lat []time.Duration
	for lba, end := uint64(0), time.Now().Add(d); time.Now().Before(end); lba++ {
		st := time.Now()
		if _, err := s.Read(uint64(testLUN), lba%1024*8, 8, 512); err != nil {
			t.Fatalf("QD1 read beside the slow readers: %v", err)
		}
		lat = append(lat, time.Since(st))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

// deepReads keeps qd READ(10)s of size bytes outstanding on s for d and returns
// the bytes read: an honest initiator with a deep queue.
func deepReads(t *testing.T, s *initiator.Session, qd int, size uint32, d time.Duration) int64 {
	t.Helper()
	blocks := size / 512
	submit := func(i int) *initiator.Task {
		cdb := make([]byte, 10)
		cdb[0] = scsi.OpRead10
		binary.BigEndian.PutUint32(cdb[2:], uint32(i%16)*blocks)
		binary.BigEndian.PutUint16(cdb[7:], uint16(blocks))
		return s.Submit(uint64(testLUN), cdb, nil, size)
	}
	var q []*initiator.Task
	for i := range qd {
		q = append(q, submit(i))
	}
	var moved int64
	for i, end := qd, time.Now().Add(d); len(q) > 0; i++ {
		res, err := q[0].Wait()
		if err != nil {
			t.Fatalf("deep reader beside the slow ones: %v", err)
		}
		moved += int64(len(res.Data))
		q = q[1:]
		if time.Now().Before(end) {
			q = append(q, submit(i))
		}
	}
	return moved
}

// nonReader logs in as the i-th slow initiator and sends n READ(16)s of size bytes
// in one write, then reads nothing.
func nonReader(t *testing.T, addr string, i, n int, size uint32) *initiator.Raw {
	t.Helper()
	o := initiator.Options{InitiatorName: fmt.Sprintf("iqn.2026-11.dev.atgt:nonreader%d", i), TargetName: defaultIQN,
		Timeout: 10 * time.Second}
	o.ISID = [6]byte{0x80, 0x52, 0, 0, byte(i >> 8), byte(i)}
	raw, err := initiator.DialRaw(addr, o)
	if err != nil {
		t.Fatalf("slow initiator %d: login: %v", i, err)
	}
	t.Cleanup(func() { raw.Conn.Close() })
	sendReads(t, raw, n, size)
	return raw
}

// sendReads sends n READ(16)s of size bytes from LBA 0 on raw, in one write.
func sendReads(t *testing.T, raw *initiator.Raw, n int, size uint32) {
	t.Helper()
	var out []byte
	for k := range n {
		var h iscsi.BHS
		h.SetOpcode(iscsi.OpSCSICmd)
		h.SetFinal(true)
		h.SetCmdRead(true)
		h.SetTaskAttr(iscsi.TaskAttrSimple)
		h.SetLUN(scsi.EncodeLUN(uint64(testLUN)))
		h.SetITT(uint32(k + 1))
		h.SetExpectedDataTransferLength(size)
		h.SetCmdSN(raw.CmdSN)
		raw.CmdSN++
		h.SetExpStatSN(raw.ExpStatSN)
		cdb := h.CDB()
		cdb[0] = scsi.OpRead16
		binary.BigEndian.PutUint64(cdb[2:], 0)
		binary.BigEndian.PutUint32(cdb[10:], size/512)
		out = append(out, h[:]...)
	}
	writeAll(t, raw.Conn, out)
}

// TestReadBudgetSlowReaders: six connections each send 24 READs of 4 MiB and read
// nothing, on a target with maxReadBufferMib 64. Without the budget each holds its
// own 64 MiB plus a command (about 400 MiB in all); with it the live heap grows by
// at most the budget plus 8 MiB per connection (and slack), the metrics show
// the Data-In held and the pauses, a QD1 initiator on the same LUN keeps being
// served promptly, an honest QD16 reader of 1 MiB keeps streaming (paused at its
// 4 MiB floor, not starved), and all is given back when the connections close.
func TestReadBudgetSlowReaders(t *testing.T) {
	const (
		n      = 6
		budget = 64 // MiB
		slack  = 24 // MiB: buffers, slabs, the quiet session
	)
	cfg := readBudgetConfig{boundsConfig: boundsLunConfig(t, 64<<20), MaxReadBufferMib: budget}
	pprof := freeLoopbackAddr(t)
	d := startDaemonConfig(t, cfg, "-pprof", pprof, "-metrics", "127.0.0.1:0")
	url := metricsURL(t, d)

	q, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: boundsInitiator, TargetName: defaultIQN, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Logout()
	if err := readPastUA(q); err != nil {
		t.Fatal(err)
	}
	deep, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: boundsInitiator + "-deep", TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0x52, 0, 0, 0xff, 0xff}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer deep.Logout()
	if err := readPastUA(deep); err != nil {
		t.Fatal(err)
	}
	before := qd1Latencies(t, q, time.Second)
	deepBefore := deepReads(t, deep, 16, 1<<20, time.Second)
	base := liveMemOf(t, pprof)

	var raws []*initiator.Raw
	for i := range n {
		raws = append(raws, nonReader(t, d.addr, i, 24, 4<<20))
	}
	time.Sleep(3 * time.Second) // the LUN reads what each may hold; then nothing moves
	held := liveMemOf(t, pprof)
	grow := (held.KiB() - base.KiB()) / 1024
	m := scrape(t, url)
	gauge := m.get(t, "atgt_data_in_held_bytes") / (1 << 20)
	pauses := m.get(t, "atgt_data_in_pauses_total")
	during := qd1Latencies(t, q, 2*time.Second)
	deepDuring := deepReads(t, deep, 16, 1<<20, time.Second)
	t.Logf("%d connections that read nothing, budget %d MiB: live heap +%.1f MiB, atgt_data_in_held_bytes %.1f MiB, pauses %v",
		n, budget, grow, gauge, pauses)
	p := func(l []time.Duration, f float64) time.Duration { return l[int(float64(len(l)-1)*f)] }
	t.Logf("QD1 4 KiB reads: before p50 %v p99 %v (%d); beside them p50 %v p99 %v max %v (%d)",
		p(before, .5), p(before, .99), len(before), p(during, .5), p(during, .99), during[len(during)-1], len(during))

	// Past the budget each connection holds at most minShare (4 MiB) and one
	// command (4 MiB) more.
	bound := float64(budget + n*8)
	if grow > bound+slack {
		t.Errorf("live heap grew %.0f MiB with %d non-reading connections: want at most %.0f (budget %d MiB + 8 MiB each + %d MiB slack)",
			grow, n, bound+slack, budget, slack)
	}
	if gauge > bound || gauge < budget/2 {
		t.Errorf("atgt_data_in_held_bytes %.1f MiB: want between %d and %.0f", gauge, budget/2, bound)
	}
	t.Logf("QD16 1 MiB reads: before %d MiB/s, beside them %d MiB/s", deepBefore>>20, deepDuring>>20)
	if deepDuring < 32<<20 {
		t.Errorf("an honest QD16 reader of 1 MiB read %d MiB in 1 s beside the slow ones: want at least 32", deepDuring>>20)
	}
	if pauses == 0 {
		t.Error("atgt_data_in_pauses_total is 0 with the budget full")
	}
	if p99 := p(during, .99); p99 > 100*time.Millisecond || len(during) < 50 {
		t.Errorf("QD1 reader beside the slow ones: %d reads in 2 s, p99 %v: want at least 50 and p99 under 100 ms", len(during), p99)
	}

	// Closing them gives everything back: the gauge returns to about nothing.
	for _, r := range raws {
		r.Conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := scrape(t, url).get(t, "atgt_data_in_held_bytes")
		if g < 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("atgt_data_in_held_bytes %.0f 10 s after the slow connections closed: the budget is not given back", g)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// networkLike makes a loopback socket's segments those of an Ethernet link (1400
// bytes) and fixes its receive buffer at 64 KiB, so that what the target's writer
// sees is what the peer reads, not the growth of the kernel's buffers (autotuned,
// they take several MiB more over tens of seconds, which the writer counts as
// progress).
func networkLike(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400); serr != nil {
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
	})
	if err != nil {
		return err
	}
	return serr
}

// TestReadBudgetTrickle: a connection that sends 24 READs of 4 MiB and then takes
// 16 KiB every 1.5 s (the scale review's figures; 2 s write timeout) holds 64 MiB
// while it trickles. The minimum drain rate (64 KiB/s over a timeout), or the write
// timeout if TCP gives the writer no progress from the reads, ends it within about
// two timeouts, with a warning naming the initiator, and counts it. Before the rate
// the write timeout ends it only after 7.6 s, when TCP happens to give the writer
// no progress for a whole timeout; a peer whose every read reaches the writer is
// never ended there (TestWriteTrickleEnded, over a pipe). The end is seen on the
// target (its session gone): the peer would take minutes to read what the kernel
// still buffers for it.
func TestReadBudgetTrickle(t *testing.T) {
	const timeout = 2 * time.Second
	cfg := boundsLunConfig(t, 64<<20)
	cfg.WriteTimeoutSeconds = int(timeout / time.Second)
	d := startDaemonConfig(t, cfg, "-metrics", "127.0.0.1:0")
	url := metricsURL(t, d)
	sessions := fmt.Sprintf(`atgt_target_sessions{target="%s"}`, defaultIQN)
	o := initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:trickle", TargetName: defaultIQN,
		Timeout: 10 * time.Second, Control: networkLike}
	r, err := initiator.DialRaw(d.addr, o)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer r.Conn.Close()
	sendReads(t, r, 24, 4<<20)
	start := time.Now()
	stop := make(chan struct{})
	read := make(chan int, 1)
	go func() { // the trickle
		buf := make([]byte, 16<<10)
		got := 0
		defer func() { read <- got }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(1500 * time.Millisecond):
			}
			_ = r.Conn.SetReadDeadline(time.Now().Add(time.Second))
			k, err := io.ReadFull(r.Conn, buf)
			got += k
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				return
			}
		}
	}()
	var took time.Duration
	for {
		time.Sleep(100 * time.Millisecond)
		if scrape(t, url).get(t, sessions) == 0 {
			took = time.Since(start)
			break
		}
		if time.Since(start) > 5*timeout {
			close(stop)
			t.Fatalf("a connection taking 16 KiB every 1.5 s (%d bytes in all) still logged in after %v with a %v write timeout",
				<-read, time.Since(start).Round(time.Millisecond), timeout)
		}
	}
	close(stop)
	t.Logf("trickling connection ended after %v (%d bytes read)", took.Round(time.Millisecond), <-read)
	if took > 3*timeout+time.Second {
		t.Errorf("ended after %v: want within about 3 write timeouts (%v)", took, 3*timeout)
	}
	// Whichever ends it first, the drain rate or the write timeout (when TCP gives
	// the writer no progress from the trickle's reads at all, seen after 3.0 s on a
	// loaded machine), the administrator is told alike and it is counted.
	var warned string
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(line, "too slowly") || strings.Contains(line, "stopped taking its responses") {
			warned = line
		}
	}
	if !strings.Contains(warned, "iqn.2026-11.dev.atgt:trickle") {
		t.Errorf("no warning naming the initiator in atgtd's log (last: %q)", warned)
	}
	t.Logf("log: %s", warned)
	if n := scrape(t, url).get(t, "atgt_slow_reader_ends_total"); n != 1 {
		t.Errorf("atgt_slow_reader_ends_total %v, want 1", n)
	}
}
