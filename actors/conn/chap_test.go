package conn

import (
	"crypto/rand"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestAuthFailureDelay: a login that fails CHAP is answered 0201 only after
// authFailureDelay (shortened here), while a good one is answered at once; the failed
// connection then ends.
func TestAuthFailureDelay(t *testing.T) {
	old := authFailureDelay
	authFailureDelay = 400 * time.Millisecond
	defer func() { authFailureDelay = old }()

	sys := quietSystem()
	defer sys.Shutdown()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	auth := &login.ChapAuth{Rand: rand.Reader, Targets: map[string]login.ChapPolicy{harnessTarget: {
		Initiator: &login.ChapCredential{User: "user", Secret: login.Secret("the-secret-123")},
	}}}
	ended := make(chan string, 4) // why each connection ended, as its session hears
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cfg := Config{Conn: c, QueueDepth: 16, Log: hclog.NewNullLogger(), Login: login.Config{
				Limits: login.DefaultLimits(), Auth: auth,
				Lookup: func(name string) (login.TargetInfo, bool) {
					return login.TargetInfo{Name: harnessTarget, PortalGroupTag: 1}, name == harnessTarget
				},
			}}
			sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				switch m := ctx.Message().(type) {
				case *actor.Started:
					ctx.Spawn(Props(cfg))
				case *LoginComplete:
					ctx.Send(ctx.Children()[0], &Admit{})
				case *LogoutSession:
					ended <- m.Reason
				}
			}))
		}
	}()
	dial := func(secret string) (time.Duration, error) {
		start := time.Now()
		s, err := initiator.Dial(ln.Addr().String(), initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:i",
			TargetName: harnessTarget, Timeout: 5 * time.Second,
			Chap: &initiator.Chap{User: "user", Secret: []byte(secret), Algorithms: []uint8{6}}})
		if err == nil {
			s.Close()
		}
		return time.Since(start), err
	}
	took, err := dial("the-secret-123")
	if err != nil || took >= authFailureDelay {
		t.Fatalf("good secret: %v after %v", err, took)
	}
	took, err = dial("not-the-secret")
	var le *initiator.LoginError
	if !errors.As(err, &le) || le.Status() != iscsi.LoginStatusAuthFailure {
		t.Fatalf("wrong secret: %v, want status 0201", err)
	}
	if took < authFailureDelay || took > authFailureDelay+2*time.Second {
		t.Fatalf("wrong secret answered after %v, want about %v", took, authFailureDelay)
	}
	// The failed connection ends at once, not at a login timeout.
	for {
		select {
		case r := <-ended:
			if r == "authentication failed" {
				return
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the failed connection did not end")
		}
	}
}
