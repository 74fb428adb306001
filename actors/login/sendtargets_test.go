package login

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

func TestSendTargets(t *testing.T) {
	targets := []DiscoveryTarget{
		{Name: "iqn.a", Addresses: []string{"10.0.0.1:3260,1", "[fe80::1]:3260,1"}},
		{Name: "iqn.b", Addresses: []string{"10.0.0.1:3260,1"}, Allowed: func(n string) bool { return n == "iqn.init" }},
		{Name: "iqn.c", Allowed: func(string) bool { return false }},
		{Name: "iqn.d", Addresses: []string{"10.0.0.1:3260,1"}, AllowedFrom: func(p netip.Addr) bool { return p == netip.MustParseAddr("127.0.0.2") }},
	}
	a := []iscsi.KV{{Key: "TargetName", Value: "iqn.a"}, {Key: "TargetAddress", Value: "10.0.0.1:3260,1"}, {Key: "TargetAddress", Value: "[fe80::1]:3260,1"}}
	b := []iscsi.KV{{Key: "TargetName", Value: "iqn.b"}, {Key: "TargetAddress", Value: "10.0.0.1:3260,1"}}
	d := []iscsi.KV{{Key: "TargetName", Value: "iqn.d"}, {Key: "TargetAddress", Value: "10.0.0.1:3260,1"}}
	tests := []struct {
		name, value, initiator, session string
		discovery                       bool
		want                            []iscsi.KV
		peer                            string // default 127.0.0.1
	}{
		{"all allowed", "All", "iqn.init", "", true, append(append([]iscsi.KV{}, a...), b...), ""},
		{"all filtered", "All", "iqn.other", "", true, a, ""},
		{"all in normal session", "All", "iqn.init", "iqn.a", false, []iscsi.KV{{Key: "SendTargets", Value: "Reject"}}, ""},
		{"named", "iqn.b", "iqn.init", "", true, b, ""},
		{"named not allowed", "iqn.b", "iqn.other", "", true, nil, ""},
		{"named unknown", "iqn.z", "iqn.init", "", true, nil, ""},
		{"empty is session target", "", "iqn.init", "iqn.a", false, a, ""},
		{"empty in discovery", "", "iqn.init", "", true, nil, ""},
		{"never allowed", "iqn.c", "iqn.init", "", true, nil, ""},
		{"all from an allowed network", "All", "iqn.other", "", true, append(append([]iscsi.KV{}, a...), d...), "127.0.0.2"},
		{"named from another network", "iqn.d", "iqn.init", "", true, nil, ""},
		{"named from an allowed network", "iqn.d", "iqn.init", "", true, d, "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := netip.MustParseAddr("127.0.0.1")
			if tt.peer != "" {
				peer = netip.MustParseAddr(tt.peer)
			}
			got := SendTargets(tt.value, tt.initiator, tt.session, tt.discovery, peer, targets)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPortalAddress: TargetAddress carries no IPv6 zone (RFC 7143 13.8), and other
// addresses as Go writes them.
func TestPortalAddress(t *testing.T) {
	for in, want := range map[string]string{
		"[fe80::1%eth0]:3260":     "[fe80::1]:3260",
		"[fe80::a:b%25eth0]:3260": "[fe80::a:b]:3260",
		"[fe80::1%3]:860":         "[fe80::1]:860",
		"[::1]:3260":              "[::1]:3260",
		"[2001:db8::1]:3260":      "[2001:db8::1]:3260",
		"127.0.0.1:3260":          "127.0.0.1:3260",
		"[::ffff:10.0.0.1]:3260":  "[::ffff:10.0.0.1]:3260",
		"portal.example:3260":     "portal.example:3260",
	} {
		if got := PortalAddress(in); got != want {
			t.Errorf("PortalAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
