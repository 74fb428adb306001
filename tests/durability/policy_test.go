package durability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/backend"
)

// TestDurabilityPowerLossPolicies runs rounds of the power-loss harness on each IO
// policy (README "IO policies"): every one must keep the durability rules, whatever
// its workers and syncs.
func TestDurabilityPowerLossPolicies(t *testing.T) {
	const rounds = 6
	for _, policy := range lun.Policies {
		t.Run(policy, func(t *testing.T) {
			for i := range rounds {
				p := paramsFor(baseSeed + 0x100 + uint64(i))
				p.policy = policy
				r := runRound(t, p)
				for _, v := range r.violations {
					t.Errorf("seed %#x: %v", p.seed, v)
				}
			}
		})
	}
}

// TestPolicyDurabilityRules checks what each policy makes durable at the moment of
// GOOD, with a cache that keeps nothing it was not told to: FUA writes and writes
// before a SYNCHRONIZE CACHE under every policy, and under single-sync every write.
func TestPolicyDurabilityRules(t *testing.T) {
	const n = 8 // writes of each kind, each to its own blocks
	for _, policy := range lun.Policies {
		t.Run(policy, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			img := make([]byte, lunBytes)
			pw := powerUp(t, img, backend.CrashSimOptions{BlockSize: blockSize}, honest, 1, policy)
			s := pw.sessions[0]
			type written struct {
				lba  uint64
				data []byte
				kind string
			}
			var ws []written
			write := func(kind string, lba uint64, fua bool) {
				data := randomBytes(rng, 4*blockSize)
				if err := retryUA(func() error { return s.Write(0, lba, data, blockSize, fua) }); err != nil {
					t.Fatalf("%s write at %d: %v", kind, lba, err)
				}
				ws = append(ws, written{lba, data, kind})
			}
			for i := range n {
				write("plain, then synced", uint64(i*8), false)
				write("FUA", uint64(512+i*8), true)
			}
			if err := s.SyncCache(0); err != nil {
				t.Fatalf("SYNCHRONIZE CACHE: %v", err)
			}
			for i := range n {
				write("plain, not synced", uint64(1024+i*8), false)
			}
			// What a power loss that drops every cached block would leave.
			stable := pw.sim.Surviving()
			lost := 0
			for _, w := range ws {
				got := stable[w.lba*blockSize:][:len(w.data)]
				kept := bytes.Equal(got, w.data)
				mustKeep := w.kind != "plain, not synced" || policy == lun.PolicySingleSync
				switch {
				case mustKeep && !kept:
					t.Errorf("%s write at LBA %d acknowledged but not stable", w.kind, w.lba)
				case !kept:
					lost++
				}
			}
			// The control: a policy without a sync per write leaves cached writes
			// cached, so the check above can tell the policies apart.
			if policy != lun.PolicySingleSync && lost == 0 {
				t.Errorf("no unsynced plain write was lost: the simulator kept what it was not told to")
			}
			t.Log(fmt.Sprintf("%d unsynced plain writes of %d would be lost", lost, n))
		})
	}
}
