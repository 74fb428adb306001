package cmdphase

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/messages/iscsi"
)

// TestTargetResetRefusalLogged: a refused target reset is logged at warn naming the
// function, the initiator, the target and the target's reason, with the target and
// route the machine asked about; a warning Config.MayWarn holds back goes to info,
// and the next warning counts it.
func TestTargetResetRefusalLogged(t *testing.T) {
	var buf bytes.Buffer
	cfg := defaultConfig()
	cfg.Login.Route = "iqn.2026-11.test:tgt iqn.2026-11.test:init"
	cfg.Log = hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
	var asked []string
	cfg.MayResetTarget = func(target, route string) (bool, string) {
		asked = append(asked, target+"|"+route)
		return false, "test policy"
	}
	allow := []bool{true, false, true}
	cfg.MayWarn = func(kind string) (bool, int) {
		if kind != "target reset refused" {
			t.Errorf("MayWarn kind %q", kind)
		}
		ok := allow[0]
		allow = allow[1:]
		if ok && len(allow) == 0 {
			return true, 1
		}
		return ok, 0
	}
	h := newHarness(cfg, 1)
	for i, fn := range []uint8{iscsi.TMFTargetColdReset, iscsi.TMFTargetWarmReset, iscsi.TMFTargetWarmReset} {
		p := &iscsi.PDU{}
		b := &p.BHS
		b.SetOpcode(iscsi.OpTaskMgmtReq)
		b.SetImmediate(true)
		b.SetFlags(iscsi.FlagFinal | fn)
		b.SetITT(uint32(100 + i))
		b.SetReferencedTaskTag(iscsi.ReservedTag)
		b.SetCmdSN(1)
		h.m.PDU(p, false)
		h.drain()
	}
	if !strings.Contains(h.out.String(), "response=6") || strings.Contains(h.out.String(), "response=0") {
		t.Fatalf("responses:\n%s", h.out.String())
	}
	for _, a := range asked {
		if a != "iqn.2026-11.test:tgt|"+cfg.Login.Route {
			t.Fatalf("asked about %q", a)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("log:\n%s", buf.String())
	}
	want := []string{
		`[WARN]  target reset refused (Function authorization failed): function="TARGET COLD RESET" initiator=iqn.2026-11.test:init target=iqn.2026-11.test:tgt reason="test policy"`,
		`[INFO]  target reset refused (Function authorization failed): function="TARGET WARM RESET" initiator=iqn.2026-11.test:init target=iqn.2026-11.test:tgt reason="test policy"`,
		`[WARN]  target reset refused (Function authorization failed): function="TARGET WARM RESET" initiator=iqn.2026-11.test:init target=iqn.2026-11.test:tgt reason="test policy" refusals_logged_at_info=1`,
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, want[i]) {
			t.Errorf("log line %d:\n%s\nwant it to end with\n%s", i, l, want[i])
		}
	}
}
