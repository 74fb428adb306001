package tests

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestCleanStop sends the real atgtd SIGTERM with a session logged in: the session
// gets an Asynchronous Message asking it to log out within the configured grace
// (shutdownGraceSeconds), logs out, and atgtd exits 0 soon after, with the data the
// session wrote (WCE=1, no SYNCHRONIZE CACHE) in the backing file. A second case
// keeps the session logged in and sends a second signal: atgtd exits at once, 130.
func TestCleanStop(t *testing.T) {
	const grace = 4
	for _, tc := range []struct {
		name   string
		logout bool
	}{{"initiator logs out", true}, {"second signal", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oneLunConfig(t, 16<<20)
			cfg.ShutdownGraceSeconds = grace
			d := startDaemonConfig(t, cfg)
			s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:stop-test", TargetName: defaultIQN, ISID: [6]byte{0x80, 0x5e, 0, 0, 0, 1},
				Timeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			defer s.Close()
			if err := retryUnitAttention(func() error { return s.TestUnitReady(uint64(testLUN)) }); err != nil {
				t.Fatalf("TEST UNIT READY: %v", err)
			}
			data := make([]byte, 256<<10)
			for i := range data {
				data[i] = byte(rand.Uint32())
			}
			const lba = 2048
			if err := s.Write(uint64(testLUN), lba, data, 512, false); err != nil {
				t.Fatalf("write: %v", err)
			}
			begin := time.Now()
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case ev := <-s.Async:
				if ev.Event != iscsi.AsyncLogoutRequest || ev.Parameter3 != grace {
					t.Fatalf("Async Message event %d Parameter3 %d; want %d and %d", ev.Event, ev.Parameter3,
						iscsi.AsyncLogoutRequest, grace)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no Asynchronous Message within 5 s of SIGTERM")
			}
			if tc.logout {
				if err := s.Logout(); err != nil {
					t.Fatalf("logout: %v", err)
				}
			} else {
				time.Sleep(200 * time.Millisecond)
				if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-d.done:
			case <-time.After(grace*time.Second + 10*time.Second):
				_ = d.cmd.Process.Kill()
				<-d.done
				t.Fatalf("atgtd still running %v after SIGTERM", time.Since(begin))
			}
			d.stopped = true
			took := time.Since(begin)
			var exit *exec.ExitError
			switch {
			case tc.logout && d.err != nil:
				t.Fatalf("atgtd exited with %v; want 0", d.err)
			case tc.logout && took > grace*time.Second:
				t.Errorf("atgtd took %v to stop although the session logged out", took)
			case !tc.logout && (!errors.As(d.err, &exit) || exit.ExitCode() != 130):
				t.Fatalf("atgtd exited with %v after a second signal; want exit status 130", d.err)
			case !tc.logout && took > 3*time.Second:
				t.Errorf("atgtd took %v to exit after a second signal", took)
			}
			if tc.logout {
				img, err := os.ReadFile(cfg.Targets[0].Luns[0].Path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(img[lba*512:lba*512+len(data)], data) {
					t.Fatalf("the data written before SIGTERM is not in the backing file")
				}
			}
			t.Logf("atgtd ended %v after SIGTERM", took.Round(time.Millisecond))
		})
	}
}
