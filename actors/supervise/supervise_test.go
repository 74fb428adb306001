package supervise

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestGuard: a panic in a strategy's clean-up is logged, not passed on to the parent.
func TestGuard(t *testing.T) {
	var out bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &out})
	ran := false
	Guard(log, "answer", func() { ran = true })
	Guard(log, "answer", func() { (&Crash{Reason: "in clean-up"}).Panic() })
	if !ran || !strings.Contains(out.String(), "crash: in clean-up") {
		t.Fatalf("ran %v, log %q", ran, out.String())
	}
}
