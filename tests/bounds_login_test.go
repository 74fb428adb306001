package tests

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestBoundsStalledLogins: 1,000 connections that each send a whole Login Request
// header and then stop inside its data segment get their actors and a reader (the
// costliest state before login) and stay within a per-connection bound; the login
// timeout closes them all.
//
// What a stalled login holds (heap profile at memprofilerate=1 and a goroutine
// profile, 2026-12-01): one reader goroutine blocked in its read, whose stack is
// 4-8 KiB (the runtime sizes new stacks from the average in use): ~5.2 KiB
// measured; the connection and session actors (protoactor context, mailbox,
// props, process registry entry and PID set: ~4 KiB); the connection's state
// (flow control, writer, small PDU reader, CmdSN window, login timer, logger,
// socket: ~4 KiB). After a forced collection that is 12.5-13.7 KiB per connection,
// the same on an idle or a loaded machine; the bound on it is 20 KiB (the stack
// doubling to 8 KiB still passes, a doubling of the whole fails). Resident memory
// adds garbage not yet collected and heap fragmentation, which vary with load:
// 15.0-17.7 KiB measured (the old bound of 18 was at the edge); its bound, 26 KiB,
// is 1.5x the highest and still fails a doubling (30+).
func TestBoundsStalledLogins(t *testing.T) {
	const (
		n            = 1000
		sources      = 5 // 200 each, under the default 256 per address
		loginTimeout = 5 * time.Second
		slack        = 3 * time.Second
	)
	raiseNofile(t, 2*n+256)
	cfg := boundsLunConfig(t, 16<<20)
	cfg.LoginTimeoutSeconds = int(loginTimeout / time.Second)
	pprof := freeLoopbackAddr(t)
	d := startDaemonConfig(t, cfg, "-pprof", pprof)
	pid := d.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond)
	baseG := goroutines(t, pprof)
	baseLive := liveMemOf(t, pprof) // first: resident memory is then sampled after a GC too
	baseRSS := rssKiB(t, pid)

	results := make(chan closeResult, n)
	header := loginBHS(0, 48, 1, 0) // announces 48 bytes of keys that never come
	for i := range n {
		c, err := dialFrom(d.addr, floodSource(i, sources))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		dialled := time.Now()
		writeAll(t, c, header)
		go closeWatch(c, dialled, loginTimeout+slack+5*time.Second, results)
	}
	time.Sleep(time.Second)
	heldG := goroutines(t, pprof)
	heldLive := liveMemOf(t, pprof)
	heldRSS := rssKiB(t, pid)
	perConn := float64(heldRSS-baseRSS) / n
	liveHeap := float64(heldLive.heap-baseLive.heap) / 1024 / n
	liveStacks := float64(heldLive.stacks-baseLive.stacks) / 1024 / n
	t.Logf("held, after a GC: live heap %.1f KiB and stacks %.1f KiB per connection (%.1f KiB)", liveHeap, liveStacks, liveHeap+liveStacks)
	t.Logf("held: goroutines %d -> %d (+%d), RSS %d -> %d KiB (+%d KiB, %.1f KiB per connection)",
		baseG, heldG, heldG-baseG, baseRSS, heldRSS, heldRSS-baseRSS, perConn)
	if heldG-baseG < n*9/10 {
		t.Errorf("only %d more goroutines: the connections did not get their readers", heldG-baseG)
	}
	if perConn >= 26 {
		t.Errorf("%.1f KiB of resident memory per connection stalled in its login, want under 26", perConn)
	}
	if live := liveHeap + liveStacks; live >= 20 {
		t.Errorf("%.1f KiB of live heap and stacks per connection stalled in its login, want under 20", live)
	}
	var slowest time.Duration
	for range n {
		r := <-results
		if r.err == nil && r.after > loginTimeout+slack {
			r.err = fmt.Errorf("closed after %v", r.after)
		}
		if r.err != nil {
			t.Fatalf("stalled login: %v", r.err)
		}
		slowest = max(slowest, r.after)
	}
	t.Logf("all %d closed by the target, the last %v after its connect (login timeout %v)", n, slowest.Round(time.Millisecond), loginTimeout)
	// And the target serves.
	c, err := net.DialTimeout("tcp", d.addr, ioDeadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	login(t, c, 1)
}
