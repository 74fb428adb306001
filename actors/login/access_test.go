package login

import (
	"net/netip"
	"testing"
)

// TestLoginAllowedFrom: a target that limits source addresses refuses a login from
// another address, or from an unknown one, with 0202 (authorization failure) and
// admits one from an allowed address; the result carries the peer.
func TestLoginAllowedFrom(t *testing.T) {
	lan := netip.MustParsePrefix("127.0.0.2/32")
	cfg := func(peer string) Config {
		c := testConfig()
		c.Lookup = func(name string) (TargetInfo, bool) {
			return TargetInfo{Name: testTarget, PortalGroupTag: 1, AllowedFrom: lan.Contains}, name == testTarget
		}
		if peer != "" {
			c.Peer = netip.MustParseAddr(peer)
		}
		return c
	}
	for _, tt := range []struct {
		peer string
		want Status
	}{
		{"127.0.0.2", StatusSuccess},
		{"127.0.0.1", AuthorizationFailure},
		{"", AuthorizationFailure}, // no peer address: refused, never admitted by default
	} {
		m := NewMachine(cfg(tt.peer))
		resp, done := m.Step(opReq(names()))
		if resp.Status() != tt.want || done != (tt.want == StatusSuccess) {
			t.Fatalf("peer %q: status %#x done %v, want %#x", tt.peer, resp.Status(), done, tt.want)
		}
		if done && m.Result().Peer != netip.MustParseAddr(tt.peer) {
			t.Fatalf("peer %q: result peer %v", tt.peer, m.Result().Peer)
		}
	}
}

// TestLoginRoute: the result's Route is the target's name, unless the target routes
// the initiator's tasks by another name; a discovery session has none.
func TestLoginRoute(t *testing.T) {
	m := NewMachine(testConfig())
	if _, done := m.Step(opReq(names())); !done || m.Result().Route != testTarget {
		t.Fatalf("done %v route %q, want %q", done, m.Result().Route, testTarget)
	}
	c := testConfig()
	c.Lookup = func(name string) (TargetInfo, bool) {
		return TargetInfo{Name: testTarget, PortalGroupTag: 1, Route: func(i string) string { return testTarget + " " + i }}, true
	}
	m = NewMachine(c)
	if _, done := m.Step(opReq(names())); !done || m.Result().Route != testTarget+" "+testInitiator {
		t.Fatalf("done %v route %q", done, m.Result().Route)
	}
	m = NewMachine(c)
	if _, done := m.Step(opReq(text("InitiatorName="+testInitiator, "SessionType=Discovery"))); !done || m.Result().Route != "" {
		t.Fatalf("discovery: done %v route %q", done, m.Result().Route)
	}
}
