package login

import (
	"strings"
	"testing"
)

// TestRefusalNamesTargetAndReason: a refused login says which target was asked for
// and why (which access list, no such target), and a target name from the network
// with a control character is quoted, so that it cannot forge a log line.
func TestRefusalNamesTargetAndReason(t *testing.T) {
	for _, tc := range []struct {
		target, wantTarget, wantReason string
	}{
		{"iqn.2024-01.org.atgt:closed", "iqn.2024-01.org.atgt:closed", "allowedInitiators (status 0202)"},
		{"iqn.2024-01.org.atgt:nosuch", "iqn.2024-01.org.atgt:nosuch", "no such target"},
		{"iqn.x\n2026 [WARN] forged", `"iqn.x\n2026 [WARN] forged"`, "no such target"},
	} {
		m := NewMachine(testConfig())
		resp, _ := m.Step(opReq(text("InitiatorName="+testInitiator, "TargetName="+tc.target)))
		if resp.StatusClass == 0 {
			t.Fatalf("%q: login not refused", tc.target)
		}
		target, reason := m.Refusal(resp.Status())
		if target != tc.wantTarget || !strings.Contains(reason, tc.wantReason) {
			t.Errorf("Refusal = %q, %q; want %q and a reason with %q", target, reason, tc.wantTarget, tc.wantReason)
		}
	}
}
