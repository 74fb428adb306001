package tests

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// The bounded-resources tests (README "Connection limits") flood atgtd with
// connections that never log in, from several loopback source addresses (all of
// 127.0.0.0/8 reaches the loopback interface), while a well-behaved initiator on
// 127.0.0.1 logs in and works, and check that the target closes what it must in
// time and that its resident memory stays bounded.

// boundsInitiator is the well-behaved initiator's name.
const boundsInitiator = "iqn.2026-11.dev.atgt:bounds"

// boundsConfig is testConfig with the connection limits (0: the daemon's default).
type boundsConfig struct {
	testConfig
	MaxConnections            int `json:"maxConnections,omitempty"`
	MaxConnectionsPerAddress  int `json:"maxConnectionsPerAddress,omitempty"`
	WriteTimeoutSeconds       int `json:"writeTimeoutSeconds,omitempty"`
	MaxLoginFailures          int `json:"maxLoginFailures,omitempty"`
	LoginFailureWindowSeconds int `json:"loginFailureWindowSeconds,omitempty"`
	GcPercent                 int `json:"gcPercent,omitempty"`
}

// boundsLunConfig is oneLunConfig with room for the limits.
func boundsLunConfig(t *testing.T, size int64) boundsConfig {
	return boundsConfig{testConfig: oneLunConfig(t, size)}
}

// raiseNofile makes sure this process may hold need file descriptors, raising the
// soft limit towards the hard one (the Go runtime raises it already at start; this
// says so when the hard limit is too low).
func raiseNofile(t *testing.T, need uint64) {
	t.Helper()
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur >= need {
		return
	}
	if r.Max < need {
		t.Fatalf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this test needs (ulimit -Hn)", r.Max, need)
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatalf("raise RLIMIT_NOFILE: %v", err)
	}
}

// dialFrom connects to addr from the loopback source address src.
func dialFrom(addr, src string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: ioDeadline}
	return d.Dial("tcp", addr)
}

// floodSource is the source address of the i-th flood connection: spread over n
// addresses from 127.0.0.2.
func floodSource(i, n int) string { return fmt.Sprintf("127.0.0.%d", 2+i%n) }

// worker keeps one session writing and reading back 4 KiB blocks of its own range
// until stopped, as a well-behaved initiator that works through the flood.
type worker struct {
	ops  atomic.Int64
	err  atomic.Pointer[error]
	stop chan struct{}
	done chan struct{}
}

func startWorker(s *initiator.Session, firstLBA uint64, seed byte) *worker {
	w := &worker{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if err := readPastUA(s); err != nil {
			w.err.Store(&err)
			return
		}
		buf := make([]byte, 4096)
		for i := uint64(0); ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			lba := firstLBA + (i%64)*8
			for j := range buf {
				buf[j] = byte(i) ^ byte(j) ^ seed
			}
			err := s.Write(uint64(testLUN), lba, buf, 512, false)
			if err == nil {
				var got []byte
				got, err = s.Read(uint64(testLUN), lba, 8, 512)
				if err == nil && !bytes.Equal(got, buf) {
					err = fmt.Errorf("LBA %d read back differs", lba)
				}
			}
			if err != nil {
				w.err.Store(&err)
				return
			}
			w.ops.Add(1)
		}
	}()
	return w
}

// end stops the worker and returns its IOs (a write and a read each) and error.
func (w *worker) end() (int64, error) {
	close(w.stop)
	<-w.done
	if e := w.err.Load(); e != nil {
		return w.ops.Load(), *e
	}
	return w.ops.Load(), nil
}

// closeWatch waits for the target to close c (EOF or reset, nothing read) and sends
// how long after dialled that was, or an error.
func closeWatch(c net.Conn, dialled time.Time, limit time.Duration, out chan<- closeResult) {
	_ = c.SetReadDeadline(dialled.Add(limit))
	n, err := c.Read(make([]byte, 64))
	r := closeResult{after: time.Since(dialled)}
	switch {
	case n > 0:
		r.err = fmt.Errorf("target sent %d bytes to a connection that did not log in", n)
	case !closedErr(err):
		r.err = fmt.Errorf("not closed by the target: %v", err)
	}
	out <- r
}

type closeResult struct {
	after time.Duration
	err   error
}

// TestBoundsFlood: 1,000 connections that never send a byte and 1,000 that send 24
// bytes of a Login Request header and stop are all closed by the target within its
// login timeout (plus slack for a loaded machine), while a well-behaved initiator
// works throughout and a second one logs in while the flood is held; atgtd's
// resident memory grows by less than 32 MB.
func TestBoundsFlood(t *testing.T) {
	const (
		idle, half   = 1000, 1000
		sources      = 10 // 200 connections each, under the default 256 per address
		loginTimeout = 5 * time.Second
		slack        = 3 * time.Second
		maxGrowthKiB = 32 << 10
	)
	raiseNofile(t, 2*(idle+half)+256)
	cfg := boundsLunConfig(t, 64<<20)
	cfg.LoginTimeoutSeconds = int(loginTimeout / time.Second)
	pprof := freeLoopbackAddr(t)
	d := startDaemonConfig(t, cfg, "-pprof", pprof)
	pid := d.cmd.Process.Pid

	opts := initiator.Options{InitiatorName: boundsInitiator, TargetName: defaultIQN, Timeout: 10 * time.Second,
		ISID: [6]byte{0x80, 0xb0, 0, 0, 0, 1}}
	s1, err := initiator.Dial(d.addr, opts)
	if err != nil {
		t.Fatalf("login before the flood: %v", err)
	}
	defer s1.Close()
	w1 := startWorker(s1, 0, 1)
	time.Sleep(time.Second) // warm: buffers pooled, goroutines parked
	baseG := goroutines(t, pprof)
	baseLive := liveMemOf(t, pprof) // first: resident memory is then sampled after a GC too
	baseRSS := rssKiB(t, pid)
	sampler := sampleRSS(t, pid)

	results := make(chan closeResult, idle+half)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	header := loginBHS(0, 48, 1, 0)[:24]
	start := time.Now()
	for i := range idle + half {
		c, err := dialFrom(d.addr, floodSource(i, sources))
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		dialled := time.Now()
		conns = append(conns, c)
		if i >= idle {
			writeAll(t, c, header)
		}
		go closeWatch(c, dialled, loginTimeout+slack+5*time.Second, results)
	}
	t.Logf("%d idle and %d half-sent connections opened in %v", idle, half, time.Since(start).Round(time.Millisecond))

	// While the flood is held: no connection has a goroutine of its own yet (none
	// sent a whole header), each costs under 1.5 KiB live (and under 16 KiB resident, a noisy figure),
	// and a new session logs in and works.
	time.Sleep(500 * time.Millisecond)
	heldG := goroutines(t, pprof)
	heldLive := liveMemOf(t, pprof)
	heldRSS := rssKiB(t, pid)
	perConn := float64(heldRSS-baseRSS) / float64(idle+half)
	liveHeap := float64(heldLive.heap-baseLive.heap) / 1024 / float64(idle+half)
	liveStacks := float64(heldLive.stacks-baseLive.stacks) / 1024 / float64(idle+half)
	t.Logf("held, after a GC: live heap %.2f KiB and stacks %.2f KiB per connection", liveHeap, liveStacks)
	t.Logf("held: goroutines %d -> %d (+%d), RSS %d -> %d KiB (+%d KiB, %.1f KiB per connection)",
		baseG, heldG, heldG-baseG, baseRSS, heldRSS, heldRSS-baseRSS, perConn)
	if heldG-baseG > 100 {
		t.Errorf("%d more goroutines while %d connections that sent no whole header are held", heldG-baseG, idle+half)
	}
	// Measured here (2 cores, shared): 0.45-0.48 KiB live per connection (its
	// socket, poller entry and a few bytes of header), the same idle or loaded; the
	// bound, 1.5 KiB, is 3x that, so a KiB more per pre-login connection fails.
	// Resident memory is the noisy figure (the well-behaved session's garbage and
	// when the collector ran move it by megabytes, which is KiB per connection):
	// 0.6-1.4 KiB, once 3.5 and once 6.0 (a clean-clone CI run) on a loaded
	// machine. Its bound, 16 KiB, only catches gross growth; the live bound below
	// is the one a leak per connection fails.
	if perConn >= 16 {
		t.Errorf("%.1f KiB of resident memory per connection before login, want under 16", perConn)
	}
	if live := liveHeap + liveStacks; live >= 1.5 {
		t.Errorf("%.2f KiB of live heap and stacks per connection before login, want under 1.5", live)
	}
	opts.ISID[5] = 2 // another initiator port: the same ISID would reinstate (end) s1
	s2, err := initiator.Dial(d.addr, opts)
	if err != nil {
		t.Fatalf("login during the flood: %v", err)
	}
	w2 := startWorker(s2, 4096, 2)
	time.Sleep(500 * time.Millisecond)
	if n, err := w2.end(); err != nil || n == 0 {
		t.Fatalf("session logged in during the flood: %d IOs, %v", n, err)
	}
	if err := s2.Logout(); err != nil {
		t.Errorf("logout: %v", err)
	}

	var slowest time.Duration
	fails := 0
	for range idle + half {
		r := <-results
		if r.err == nil && r.after > loginTimeout+slack {
			r.err = fmt.Errorf("closed after %v, later than the login timeout %v + %v", r.after, loginTimeout, slack)
		}
		if r.err != nil {
			if fails++; fails <= 5 {
				t.Errorf("flood connection: %v", r.err)
			}
			continue
		}
		slowest = max(slowest, r.after)
	}
	if fails > 0 {
		t.Fatalf("%d of %d flood connections not closed in time", fails, idle+half)
	}
	peak := sampler.end()
	ops, err := w1.end()
	if err != nil {
		t.Fatalf("the well-behaved session failed during the flood after %d IOs: %v", ops, err)
	}
	t.Logf("all %d closed by the target, the last %v after its connect (login timeout %v); the working session did %d write+read pairs",
		idle+half, slowest.Round(time.Millisecond), loginTimeout, ops)
	t.Logf("RSS baseline %d KiB, peak %d KiB: +%d KiB (limit %d KiB)", baseRSS, peak, peak-baseRSS, maxGrowthKiB)
	if peak-baseRSS >= maxGrowthKiB {
		t.Errorf("resident memory grew by %d KiB under the flood, want under %d KiB", peak-baseRSS, maxGrowthKiB)
	}
	// Every flood connection's goroutines are gone.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g := goroutines(t, pprof)
		if g <= baseG+10 {
			t.Logf("goroutines back to %d (baseline %d)", g, baseG)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 5 s after the flood ended, baseline %d", g, baseG)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectRefused checks that the target closes c at once, without a byte.
func expectRefused(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(prompt))
	n, err := c.Read(make([]byte, 64))
	if n > 0 || !closedErr(err) {
		t.Fatalf("%s: not closed at once (read %d bytes, %v)", what, n, err)
	}
}

// expectHeld checks that the target keeps c open (for now).
func expectHeld(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Read(make([]byte, 64))
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: want the connection held open, read %d bytes, %v", what, n, err)
	}
}

// dialHeld opens n connections from src that the target must hold.
func dialHeld(t *testing.T, addr, src string, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for i := range n {
		c, err := dialFrom(addr, src)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, c)
		expectHeld(t, c, fmt.Sprintf("connection %d from %s", i, src))
	}
	return out
}

// TestBoundsConnectionCaps: maxConnectionsPerAddress and maxConnections close the
// connection over the cap at once, other addresses are not affected by one
// address's cap, and a closed connection gives its place back.
func TestBoundsConnectionCaps(t *testing.T) {
	cfg := boundsLunConfig(t, 16<<20)
	cfg.LoginTimeoutSeconds = 60
	cfg.MaxConnectionsPerAddress = 4
	cfg.MaxConnections = 7
	d := startDaemonConfig(t, cfg)

	a := dialHeld(t, d.addr, "127.0.0.2", 4)
	c, err := dialFrom(d.addr, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(t, c, "5th connection from 127.0.0.2 (per-address cap 4)")
	c.Close()
	dialHeld(t, d.addr, "127.0.0.3", 3) // the portal now holds 7
	c, err = dialFrom(d.addr, "127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(t, c, "8th connection to the portal (cap 7)")
	c.Close()

	// A connection closed by its peer gives its place back: a new one from the same
	// address is held, once the target has seen the close.
	a[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dialFrom(d.addr, "127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Cleanup(func() { c.Close() })
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no place given back 5 s after a connection closed")
		}
	}
	// A well-behaved initiator gets in once there is room.
	for _, c := range a[1:] {
		c.Close()
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: boundsInitiator, TargetName: defaultIQN, Timeout: 5 * time.Second})
		if err == nil {
			if err := readPastUA(s); err != nil {
				t.Fatalf("read: %v", err)
			}
			s.Logout()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login once places were free: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !d.alive() {
		t.Fatal("atgtd died")
	}
	t.Logf("done")
}

// TestBoundsLoginFailures: after maxLoginFailures failed logins from one address
// within the window, that address's connections are closed at once for the window,
// other addresses log in, and after the window the address logs in again.
func TestBoundsLoginFailures(t *testing.T) {
	const window = 3 * time.Second
	cfg := boundsLunConfig(t, 16<<20)
	cfg.MaxLoginFailures = 3
	cfg.LoginFailureWindowSeconds = int(window / time.Second)
	d := startDaemonConfig(t, cfg)

	for i := range 3 {
		c, err := dialFrom(d.addr, "127.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		writeAll(t, c, nopOutBHS(1, 1, 0))
		if st, _ := expectLoginEnd(t, c, begin, prompt); st != 0x020b {
			t.Fatalf("failed login %d: status %#04x, want 0x020b", i, st)
		}
		c.Close()
	}
	blocked := time.Now()
	c, err := dialFrom(d.addr, "127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(t, c, "connection after 3 failed logins")
	c.Close()

	// Another address is not affected.
	c, err = dialFrom(d.addr, "127.0.0.6")
	if err != nil {
		t.Fatal(err)
	}
	login(t, c, 6)
	c.Close()

	// After the window the address is served again.
	time.Sleep(time.Until(blocked.Add(window + 200*time.Millisecond)))
	c, err = dialFrom(d.addr, "127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	login(t, c, 5)
	c.Close()
	t.Logf("served again %v after it was refused (window %v)", time.Since(blocked).Round(time.Millisecond), window)
}

// TestBoundsStalledReader: a logged-in peer that sends READs and NOP-Out pings with
// data and never reads the answers has its sends blocked once the target's queue
// of unsent responses is full (the target stops reading), and is cut off by the
// write timeout; atgtd's resident memory grows by less than 32 MB meanwhile.
func TestBoundsStalledReader(t *testing.T) {
	const (
		writeTimeout = 2 * time.Second
		slack        = 3 * time.Second
		maxGrowthKiB = 32 << 10
	)
	cfg := boundsLunConfig(t, 64<<20)
	cfg.WriteTimeoutSeconds = int(writeTimeout / time.Second)
	// The bound is about what the target holds for the peer (its unsent responses
	// are capped at 8 MiB), not the collector's slack: at the default gcPercent of
	// 400 the heap may reach five times the live data before a collection, which put
	// the growth at 37 MB in one run of four on a loaded machine.
	cfg.GcPercent = 100
	pprof := freeLoopbackAddr(t)
	d := startDaemonConfig(t, cfg, "-pprof", pprof)
	pid := d.cmd.Process.Pid
	baseRSS := rssKiB(t, pid)
	sampler := sampleRSS(t, pid)

	raw, err := initiator.DialRaw(d.addr, initiator.Options{InitiatorName: boundsInitiator, TargetName: defaultIQN, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	c := raw.Conn
	defer c.Close()
	// 32 READs of 256 KiB, then NOP-Outs with 64 KiB of data, none answer read.
	var out []byte
	for i := range uint32(32) {
		var h iscsi.BHS
		h.SetOpcode(iscsi.OpSCSICmd)
		h.SetFinal(true)
		h.SetCmdRead(true)
		h.SetTaskAttr(iscsi.TaskAttrSimple)
		h.SetLUN(scsi.EncodeLUN(uint64(testLUN)))
		h.SetITT(i + 1)
		h.SetExpectedDataTransferLength(256 << 10)
		h.SetCmdSN(raw.CmdSN)
		raw.CmdSN++
		h.SetExpStatSN(raw.ExpStatSN)
		cdb := h.CDB()
		cdb[0] = scsi.OpRead16
		binary.BigEndian.PutUint64(cdb[2:], uint64(i)*512)
		binary.BigEndian.PutUint32(cdb[10:], 512)
		out = append(out, h[:]...)
	}
	writeAll(t, c, out)
	ping := make([]byte, iscsi.BHSLength+64<<10)
	var sent int64
	var lastProgress time.Time
	var werr error
	start := time.Now()
	for itt := uint32(1000); ; itt++ {
		h := (*iscsi.BHS)(ping[:iscsi.BHSLength])
		copy(h[:], nopOutBHS(itt, raw.CmdSN, raw.ExpStatSN))
		h.SetDataSegmentLength(64 << 10)
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout + slack + 10*time.Second))
		n, err := c.Write(ping)
		sent += int64(n)
		if err != nil {
			werr = err
			break
		}
		lastProgress = time.Now()
		if time.Since(start) > 60*time.Second {
			t.Fatalf("sent %d MiB of pings over 60 s without being cut off", sent>>20)
		}
	}
	cut := time.Now()
	peak := sampler.end()
	t.Logf("sent %.1f MiB of pings before the target stopped reading; connection ended %v after our last progress: %v",
		float64(sent)/(1<<20), cut.Sub(lastProgress).Round(time.Millisecond), werr)
	if !closedErr(werr) {
		t.Fatalf("our send ended with %v, want the connection closed by the target", werr)
	}
	if cut.Sub(lastProgress) > writeTimeout*5/4+slack {
		t.Errorf("cut off %v after our last progress, want within the write timeout %v (x1.25) + %v", cut.Sub(lastProgress), writeTimeout, slack)
	}
	if sent > 128<<20 {
		t.Errorf("the target took %d MiB from a peer that reads nothing", sent>>20)
	}
	t.Logf("RSS baseline %d KiB, peak %d KiB: +%d KiB (limit %d KiB)", baseRSS, peak, peak-baseRSS, maxGrowthKiB)
	if peak-baseRSS >= maxGrowthKiB {
		t.Errorf("resident memory grew by %d KiB for one stalled peer, want under %d KiB", peak-baseRSS, maxGrowthKiB)
	}
	// The target still serves.
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: boundsInitiator, TargetName: defaultIQN, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("login after the stalled peer: %v", err)
	}
	if err := readPastUA(s); err != nil {
		t.Fatalf("read: %v", err)
	}
	s.Logout()
}

// readPastUA reads a block of a fresh session, past the unit attention (29/00,
// power on) its first command may meet.
func readPastUA(s *initiator.Session) error {
	var err error
	for range 3 {
		if _, err = s.Read(uint64(testLUN), 0, 8, 512); err == nil {
			return nil
		}
		var se *initiator.SCSIError
		if !errors.As(err, &se) || se.Key() != 6 {
			return err
		}
	}
	return err
}
