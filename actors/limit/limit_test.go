package limit

import (
	"net"
	"testing"
	"time"
)

// clock is a settable time for the guard.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestGuard(cfg Config) (*Guard, *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	g := New(cfg, nil)
	g.now = c.now
	return g, c
}

func addr(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }

func TestCaps(t *testing.T) {
	g, _ := newTestGuard(Config{MaxPerPortal: 3, MaxPerAddress: 2})
	p := g.Portal()
	var rel []func()
	for i := range 2 {
		r, why := p.Admit(addr("10.0.0.1", 1000+i))
		if why != "" {
			t.Fatalf("connection %d refused: %s", i, why)
		}
		rel = append(rel, r)
	}
	if _, why := p.Admit(addr("10.0.0.1", 1002)); why != AddressFull {
		t.Fatalf("3rd from one address: %q, want %q", why, AddressFull)
	}
	// IPv4-mapped IPv6 is the same address.
	if _, why := p.Admit(addr("::ffff:10.0.0.1", 1003)); why != AddressFull {
		t.Fatalf("mapped address: %q, want %q", why, AddressFull)
	}
	r, why := p.Admit(addr("10.0.0.2", 1000))
	if why != "" {
		t.Fatalf("other address refused: %s", why)
	}
	if _, why := p.Admit(addr("10.0.0.3", 1000)); why != PortalFull {
		t.Fatalf("4th on the portal: %q, want %q", why, PortalFull)
	}
	// Another portal has its own count, the address cap is shared.
	q := g.Portal()
	if _, why := q.Admit(addr("10.0.0.3", 1000)); why != "" {
		t.Fatalf("other portal refused: %s", why)
	}
	if _, why := q.Admit(addr("10.0.0.1", 1004)); why != AddressFull {
		t.Fatalf("address cap over portals: %q", why)
	}
	rel[0]()
	if _, why := p.Admit(addr("10.0.0.1", 1005)); why != "" {
		t.Fatalf("after a release: %s", why)
	}
	r()
	if p.Held() != 2 {
		t.Fatalf("portal holds %d, want 2", p.Held())
	}
}

func TestLoginFailures(t *testing.T) {
	g, c := newTestGuard(Config{MaxLoginFailures: 3, FailureWindow: time.Minute})
	p := g.Portal()
	bad := addr("10.0.0.9", 1)
	// Two failures, then the window passes: the count starts again.
	g.LoginFailed(bad)
	g.LoginFailed(bad)
	c.t = c.t.Add(61 * time.Second)
	g.LoginFailed(bad)
	if _, why := p.Admit(bad); why != "" {
		t.Fatalf("refused after failures spread over two windows: %s", why)
	}
	g.LoginFailed(bad)
	g.LoginFailed(bad) // the 3rd within the window
	if _, why := p.Admit(addr("10.0.0.9", 2)); why != AddressBlocked {
		t.Fatalf("after 3 failures: %q, want %q", why, AddressBlocked)
	}
	if _, why := p.Admit(addr("10.0.0.8", 2)); why != "" {
		t.Fatalf("other address: %s", why)
	}
	c.t = c.t.Add(59 * time.Second)
	if _, why := p.Admit(bad); why != AddressBlocked {
		t.Fatalf("within the window: %q", why)
	}
	c.t = c.t.Add(2 * time.Second)
	if _, why := p.Admit(bad); why != "" {
		t.Fatalf("after the window: %s", why)
	}
}

// TestSourcesDoNotPile: addresses seen once are forgotten once idle.
func TestSourcesDoNotPile(t *testing.T) {
	g, c := newTestGuard(Config{MaxPerAddress: 10, MaxLoginFailures: 5, FailureWindow: time.Minute})
	p := g.Portal()
	for i := range 1000 {
		a := addr("10.1.0.0", 0)
		a.(*net.TCPAddr).IP = net.IPv4(10, 1, byte(i>>8), byte(i))
		r, why := p.Admit(a)
		if why != "" {
			t.Fatal(why)
		}
		if i%2 == 0 {
			g.LoginFailed(a)
		}
		r()
	}
	if n := g.Sources(); n != 500 {
		t.Fatalf("%d sources held, want the 500 with a recent failure", n)
	}
	c.t = c.t.Add(2 * time.Minute)
	p.Admit(addr("10.2.0.1", 1)) // sweeps
	if n := g.Sources(); n != 1 {
		t.Fatalf("%d sources held after the window, want 1", n)
	}
}
