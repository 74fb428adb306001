// Package limit holds the target's admission limits, shared by its portals and its
// connections: how many connections one portal and one source address may hold at
// once, and the rate limit on failed logins from one source address. A connection
// over a limit is closed at once, before the target spends more than the accept on
// it; the refusals are logged at warn, at most one line a second for each reason.
package limit

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config sets the limits. A zero field is no limit.
type Config struct {
	// MaxPerPortal is how many connections one portal holds at once.
	MaxPerPortal int
	// MaxPerAddress is how many connections one source IP address holds at once,
	// over every portal.
	MaxPerAddress int
	// MaxLoginFailures failed logins from one source address within FailureWindow
	// get the address's new connections refused for FailureWindow.
	MaxLoginFailures int
	// FailureWindow is the window failed logins are counted over, and how long an
	// address that reached MaxLoginFailures is refused.
	FailureWindow time.Duration
}

// Why a connection was refused, as logged.
const (
	PortalFull     = "portal at maxConnections"
	AddressFull    = "source address at maxConnectionsPerAddress"
	AddressBlocked = "source address refused after maxLoginFailures failed logins"
)

// warnEvery is the least time between two warnings of one kind.
const warnEvery = time.Second

// Guard counts the connections of each source address and the failed logins from
// it, for every portal of a target. It is safe for concurrent use: portals admit
// and connections release and report failures from their own goroutines.
type Guard struct {
	cfg Config
	log hclog.Logger
	now func() time.Time

	mu        sync.Mutex
	sources   map[netip.Addr]*source
	nextSweep time.Time
	warned    map[string]*warnState
}

// source is what the guard holds about one source address: its connections and its
// recent failed logins.
type source struct {
	conns        int
	failures     int       // failed logins since windowStart
	windowStart  time.Time // start of the current failure window
	refusedUntil time.Time // refused until then after too many failures
}

// warnState rate-limits the warnings of one kind.
type warnState struct {
	last       time.Time
	suppressed int
}

// New returns a guard enforcing cfg; log receives the refusal warnings.
func New(cfg Config, log hclog.Logger) *Guard {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Guard{cfg: cfg, log: log, now: time.Now, sources: map[netip.Addr]*source{}, warned: map[string]*warnState{}}
}

// Portal counts one portal's connections against the guard's limits.
type Portal struct {
	g *Guard
	n int // connections held, guarded by g.mu
}

// Portal returns a new portal counter under g.
func (g *Guard) Portal() *Portal { return &Portal{g: g} }

// Held reports how many connections the portal holds.
func (p *Portal) Held() int {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return p.n
}

// Sources reports how many source addresses the guard holds state for (connections
// or recent failed logins), for tests: it must not grow without bound.
func (g *Guard) Sources() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sources)
}

// Admit decides on a connection just accepted from remote. Admitted, it returns a
// function to call once when the connection is closed, which gives its place back.
// Refused, it returns why (one of the constants above) and has logged a warning
// (rate-limited); the caller closes the connection.
func (p *Portal) Admit(remote net.Addr) (release func(), refused string) {
	g := p.g
	ip := addrOf(remote)
	now := g.now()
	g.mu.Lock()
	g.sweep(now)
	s := g.sources[ip]
	switch {
	case s != nil && now.Before(s.refusedUntil):
		refused = AddressBlocked
	case g.cfg.MaxPerPortal > 0 && p.n >= g.cfg.MaxPerPortal:
		refused = PortalFull
	case s != nil && g.cfg.MaxPerAddress > 0 && s.conns >= g.cfg.MaxPerAddress:
		refused = AddressFull
	}
	if refused != "" {
		logIt, suppressed := g.mayWarn(refused, now)
		g.mu.Unlock()
		if logIt {
			g.log.Warn("connection refused", "reason", refused, "remote", remote.String(), "refused_unlogged", suppressed)
		}
		return nil, refused
	}
	if s == nil {
		s = &source{}
		g.sources[ip] = s
	}
	s.conns++
	p.n++
	g.mu.Unlock()
	return func() { g.release(p, ip) }, ""
}

// release gives back the place of a connection of p from ip.
func (g *Guard) release(p *Portal, ip netip.Addr) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	p.n--
	if s := g.sources[ip]; s != nil {
		s.conns--
		if g.idle(s, now) {
			delete(g.sources, ip)
		}
	}
}

// LoginFailed records a failed login from remote, as Guard.LoginFailed.
func (p *Portal) LoginFailed(remote net.Addr) { p.g.LoginFailed(remote) }

// LoginFailed records a failed login from remote. The MaxLoginFailures-th within
// FailureWindow has the address refused for FailureWindow, and is logged.
func (g *Guard) LoginFailed(remote net.Addr) {
	if g.cfg.MaxLoginFailures <= 0 {
		return
	}
	ip := addrOf(remote)
	now := g.now()
	g.mu.Lock()
	s := g.sources[ip]
	if s == nil {
		s = &source{}
		g.sources[ip] = s
	}
	if now.Sub(s.windowStart) >= g.cfg.FailureWindow {
		s.windowStart, s.failures = now, 0
	}
	s.failures++
	blocked := s.failures >= g.cfg.MaxLoginFailures
	var logIt bool
	var suppressed int
	if blocked {
		s.refusedUntil = now.Add(g.cfg.FailureWindow)
		s.windowStart, s.failures = now, 0
		logIt, suppressed = g.mayWarn("blocked", now)
	}
	g.mu.Unlock()
	if logIt {
		g.log.Warn("too many failed logins: refusing the address's connections", "address", ip.String(),
			"failures", g.cfg.MaxLoginFailures, "within", g.cfg.FailureWindow, "for", g.cfg.FailureWindow,
			"other_addresses_unlogged", suppressed)
	}
}

// idle reports whether s holds nothing worth keeping at now: no connection, no
// failure in a window still open, no refusal in force.
func (g *Guard) idle(s *source, now time.Time) bool {
	return s.conns <= 0 && !now.Before(s.refusedUntil) &&
		(s.failures == 0 || now.Sub(s.windowStart) >= g.cfg.FailureWindow)
}

// sweep drops idle sources, at most once per failure window (g.mu held), so that
// addresses seen once do not stay for ever.
func (g *Guard) sweep(now time.Time) {
	if now.Before(g.nextSweep) {
		return
	}
	g.nextSweep = now.Add(max(g.cfg.FailureWindow, time.Second))
	for ip, s := range g.sources {
		if g.idle(s, now) {
			delete(g.sources, ip)
		}
	}
}

// MayWarn reports whether a warning of kind may be logged now, at most one line a
// second for each kind as the guard's own refusals, and how many were held back
// since the last: for the connections' refused logins (the same address can try
// many times a second).
func (g *Guard) MayWarn(kind string) (bool, int) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mayWarn(kind, now)
}

// mayWarn reports whether a warning of kind may be logged at now, and how many
// were held back since the last (g.mu held).
func (g *Guard) mayWarn(kind string, now time.Time) (bool, int) {
	w := g.warned[kind]
	if w == nil {
		w = &warnState{}
		g.warned[kind] = w
	}
	if !w.last.IsZero() && now.Sub(w.last) < warnEvery {
		w.suppressed++
		return false, 0
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	return true, n
}

// addrOf is the source IP address of remote (IPv4-mapped IPv6 as IPv4); the zero
// Addr if it has none, which then shares one count.
func addrOf(remote net.Addr) netip.Addr {
	if ta, ok := remote.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if remote == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
