package durability

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/atgt/atgt/backend"
)

// TestWCEOffFlushesCachedWrites: MODE SELECT turning WCE off flushes the cache
// before GOOD, as drives do. From then on an initiator sends no SYNCHRONIZE CACHE
// (Linux drops flushes and FUA for a write-through disk), so a write acknowledged
// under WCE=1 just before must survive a power loss that drops everything cached.
func TestWCEOffFlushesCachedWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	img := randomBytes(rng, lunBytes)
	p := powerUp(t, img, backend.CrashSimOptions{BlockSize: blockSize}, honest, 1, "")
	s := p.sessions[0]
	data := bytes.Repeat([]byte{0x42}, 8*blockSize)
	if err := retryUA(func() error { return s.Write(0, 100, data, blockSize, false) }); err != nil {
		t.Fatal(err)
	}
	if err := retryUA(func() error { return s.ModeSelectWCE(0, false) }); err != nil {
		t.Fatal(err)
	}
	// The initiator now treats the disk as write-through: later writes are stable...
	if err := retryUA(func() error { return s.Write(0, 200, data, blockSize, false) }); err != nil {
		t.Fatal(err)
	}
	p.sim.PowerLoss(nil)
	surv := p.sim.Surviving()
	if !bytes.Equal(surv[200*blockSize:208*blockSize], data) {
		t.Fatalf("write under WCE=0 lost (unexpected)")
	}
	if !bytes.Equal(surv[100*blockSize:108*blockSize], data) {
		t.Errorf("write acknowledged before MODE SELECT WCE=0 lost at power loss: the cache was not flushed when it was disabled")
	}
}
