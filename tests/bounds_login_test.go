package tests

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestBoundsStalledLogins: 1,000 connections that each send a whole Login Request
// header and then stop inside its data segment get their actors and a reader (the
// costliest state before login) and still cost under 18 KiB each (15.0-16.4 KiB
// measured since the memory bounds and login admission of 2026-12-01 added a few
// fields and channels per connection; 13.8-14.7 before); the login timeout closes
// them all.
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
	heldRSS := rssKiB(t, pid)
	perConn := float64(heldRSS-baseRSS) / n
	t.Logf("held: goroutines %d -> %d (+%d), RSS %d -> %d KiB (+%d KiB, %.1f KiB per connection)",
		baseG, heldG, heldG-baseG, baseRSS, heldRSS, heldRSS-baseRSS, perConn)
	if heldG-baseG < n*9/10 {
		t.Errorf("only %d more goroutines: the connections did not get their readers", heldG-baseG)
	}
	if perConn >= 18 {
		t.Errorf("%.1f KiB of resident memory per connection stalled in its login, want under 18", perConn)
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
