package target

import (
	"net"
	"net/netip"
	"strings"
)

// DefaultISCSIPort is the port of a portal given as an address alone: iSCSI's
// well-known port (RFC 7143 13.13).
const DefaultISCSIPort = "3260"

// withDefaultPort is a portal given as an address alone ("127.0.0.1", "[::1]",
// "localhost") with DefaultISCSIPort; any other portal as it is (an IPv6 address
// without brackets is ambiguous, "::1:3260", and stays an error).
func withDefaultPort(p string) string {
	if _, _, err := net.SplitHostPort(p); err == nil {
		return p
	}
	if a, err := netip.ParseAddr(p); (err == nil && a.Is4()) || p == "localhost" {
		return net.JoinHostPort(p, DefaultISCSIPort)
	}
	if h, ok := strings.CutPrefix(p, "["); ok && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(strings.TrimSuffix(h, "]")); err == nil && a.Is6() {
			return net.JoinHostPort(a.String(), DefaultISCSIPort)
		}
	}
	return p
}
