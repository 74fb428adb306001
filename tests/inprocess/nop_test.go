package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// TestNop: the target answers NOP-Out; an idle session is pinged every
// NopIntervalSeconds and survives by answering; one that ignores pings is dropped.
func TestNop(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NopIntervalSeconds = 1
	cfg.NopTimeoutSeconds = 1
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]

	t.Run("echo", func(t *testing.T) {
		s := dial(t, addr, initiator.Options{ISID: isid(700)})
		for _, data := range [][]byte{nil, []byte("x"), randomData(7, 5000)} {
			if err := s.Nop(data); err != nil {
				t.Fatalf("nop with %d bytes: %v", len(data), err)
			}
		}
	})
	t.Run("answered pings keep the session", func(t *testing.T) {
		t.Parallel()
		s := dial(t, addr, initiator.Options{ISID: isid(701)})
		select {
		case <-s.Done():
			t.Fatalf("connection closed while answering pings: %v", s.Err())
		case <-time.After(3500 * time.Millisecond):
		}
		if n := s.Pings.Load(); n < 2 {
			t.Fatalf("%d pings in 3.5s idle with a 1s interval, want at least 2", n)
		}
		if err := s.Nop(nil); err != nil {
			t.Fatalf("nop after idling: %v", err)
		}
	})
	t.Run("ignored pings end the connection", func(t *testing.T) {
		t.Parallel()
		s := dial(t, addr, initiator.Options{ISID: isid(702), IgnorePings: true})
		begin := time.Now()
		select {
		case <-s.Done():
		case <-time.After(6 * time.Second):
			t.Fatalf("connection still up 6s after login although no ping was answered (%d pings)", s.Pings.Load())
		}
		took := time.Since(begin)
		if took < 1500*time.Millisecond || took > 4500*time.Millisecond {
			t.Errorf("connection dropped after %v, want about 2s (1s interval + 1s timeout)", took)
		}
		if s.Pings.Load() < 1 {
			t.Errorf("dropped without a ping")
		}
	})
}

// TestNopTimeoutSetting: nop_timeout_seconds is how long a pinged initiator has to
// answer (proto/atgt/v1/config.proto), separate from the ping interval.
func TestNopTimeoutSetting(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NopIntervalSeconds = 1
	cfg.NopTimeoutSeconds = 3
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(710), IgnorePings: true})
	begin := time.Now()
	select {
	case <-s.Done():
	case <-time.After(8 * time.Second):
		t.Fatalf("connection still up 8s after login, interval 1s + timeout 3s")
	}
	if took := time.Since(begin); took < 3500*time.Millisecond || took > 6*time.Second {
		t.Errorf("silent initiator dropped after %v, want about 4s (1s interval + 3s nop_timeout_seconds)", took)
	}
}
