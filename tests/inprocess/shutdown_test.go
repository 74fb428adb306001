package inprocess

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestShutdown checks the clean stop (Service.Shutdown, what atgtd does on SIGTERM):
// every session is asked to log out with an Asynchronous Message (AsyncEvent 1,
// Parameter3 the grace in seconds); the stop waits for the logouts up to the grace
// period and then ends the sessions left; and plain writes acknowledged under WCE=1,
// which a power loss would drop before the stop, are on the medium after it.
func TestShutdown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stubborn bool // one initiator ignores the request
	}{
		{"every initiator logs out", false},
		{"one initiator ignores the request", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const grace = 2 * time.Second
			cs := backend.NewCrashSim(lunSize, backend.CrashSimOptions{})
			svc := start(t, baseConfig(t), func(string, uint64, backend.Backend) backend.Backend { return cs })
			polite := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1500)})
			other := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1501)})
			ready(t, polite, 0)
			ready(t, other, 0)
			a, b := randomData(1500, 64<<10), randomData(1501, 64<<10)
			if err := polite.Write(0, 0, a, blockSize, false); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := other.Write(0, 1024, b, blockSize, false); err != nil {
				t.Fatalf("write: %v", err)
			}
			if img := cs.Surviving(); bytes.Equal(img[:len(a)], a) {
				t.Fatalf("a cached write is stable before the stop: the test shows nothing")
			}

			logoutAsked := func(s *initiator.Session, logout bool) <-chan error {
				res := make(chan error, 1)
				go func() {
					select {
					case ev := <-s.Async:
						if ev.Event != iscsi.AsyncLogoutRequest || ev.Parameter3 != uint16(grace/time.Second) {
							res <- fmt.Errorf("Async Message event %d Parameter3 %d; want event %d, Parameter3 %d",
								ev.Event, ev.Parameter3, iscsi.AsyncLogoutRequest, grace/time.Second)
							return
						}
						if logout {
							res <- s.Logout()
							return
						}
						res <- nil
					case <-time.After(grace + 5*time.Second):
						res <- fmt.Errorf("no Asynchronous Message")
					}
				}()
				return res
			}
			politeDone := logoutAsked(polite, true)
			otherDone := logoutAsked(other, !tc.stubborn)

			begin := time.Now()
			if err := svc.Shutdown(grace); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			took := time.Since(begin)
			for _, ch := range []<-chan error{politeDone, otherDone} {
				if err := <-ch; err != nil {
					t.Fatalf("initiator: %v", err)
				}
			}
			switch {
			case tc.stubborn && took < grace:
				t.Errorf("stop took %v with a session that never logged out; want the grace period, %v", took, grace)
			case took > grace+5*time.Second:
				t.Errorf("stop took %v; want at most the grace period (%v) and the flush", took, grace)
			case !tc.stubborn && took > grace/2:
				t.Errorf("stop took %v although every initiator logged out at once", took)
			}
			select {
			case <-other.Done():
			case <-time.After(5 * time.Second):
				t.Errorf("the session that did not log out is still open after the stop")
			}
			img := cs.Surviving()
			if !bytes.Equal(img[:len(a)], a) || !bytes.Equal(img[1024*blockSize:1024*blockSize+len(b)], b) {
				t.Fatalf("writes acknowledged under WCE=1 are not stable after the stop")
			}
			t.Logf("stopped in %v", took.Round(time.Millisecond))
		})
	}
}
