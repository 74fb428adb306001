package cmdphase

import (
	"strings"
	"testing"

	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/messages/iscsi"
)

// TestSendTargetsDropsIPv6Zone: an initiator that reached the target on a link-local
// IPv6 address (Go writes the local address "[fe80::…%eth0]:port") learns the
// address from SendTargets without the target's interface zone (RFC 7143 13.8:
// TargetAddress is an IPv6 literal in brackets), in a discovery session and with an
// empty SendTargets in a normal one.
func TestSendTargetsDropsIPv6Zone(t *testing.T) {
	for _, discovery := range []bool{true, false} {
		cfg := defaultConfig()
		cfg.LocalAddr = "[fe80::1:2%eth0]:3260"
		value := ""
		if discovery {
			cfg.Login.SessionType, cfg.Login.Target = login.SessionDiscovery, login.TargetInfo{}
			value = "All"
		}
		h := newHarness(cfg, 1)
		p := &iscsi.PDU{Data: iscsi.AppendText(nil, iscsi.KV{Key: "SendTargets", Value: value})}
		p.BHS.SetOpcode(iscsi.OpTextReq)
		p.BHS.SetFinal(true)
		p.BHS.SetITT(1)
		p.BHS.SetTTT(iscsi.ReservedTag)
		p.BHS.SetCmdSN(1)
		h.m.PDU(p, false)
		h.drain()
		if out := h.out.String(); !strings.Contains(out, "TargetAddress=[fe80::1:2]:3260,1;") {
			t.Errorf("discovery %v: SendTargets answered\n%s\nwant TargetAddress=[fe80::1:2]:3260,1", discovery, out)
		}
	}
}
