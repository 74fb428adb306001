package cmdphase

import (
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestDataInHeldCapsEDTL: a READ counts against the Data-In bounds for at most
// what the target will send for it, MaxTaskBytes (the LUNs' maximum transfer), not
// for its EDTL, which may exceed what the CDB moves (RFC 7143 11.4.5.1): one READ
// of one block with a 60 MiB EDTL, held behind a CmdSN hole, held 60 MiB of the
// target-wide Data-In budget.
func TestDataInHeldCapsEDTL(t *testing.T) {
	cfg := defaultConfig()
	cfg.MaxTaskBytes = 4 << 20
	h := newHarness(cfg, 1)
	readCmd(h, 1, 2, 60<<20) // CmdSN 1 never comes: the READ waits behind the hole
	readCmd(h, 2, 3, 4096)
	if got, want := h.m.DataInHeld(), uint64(4<<20+4096); got != want {
		t.Fatalf("DataInHeld %d for a READ of EDTL 60 MiB and one of 4 KiB, want %d (4 MiB + 4 KiB)", got, want)
	}
	// Answered, the capped READ gives back what it took.
	h = newHarness(cfg, 1)
	readCmd(h, 1, 1, 60<<20)
	if h.atLUN[1] == nil {
		t.Fatalf("READ not at its LUN:\n%s", h.out.String())
	}
	h.m.Complete(&pb.ScsiCompletion{Itt: 1, DataIn: make([]byte, 512), TransferLength: 512})
	h.drain()
	if got := h.m.DataInHeld(); got != 0 {
		t.Fatalf("DataInHeld %d after the READ was answered", got)
	}
}
