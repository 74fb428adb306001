package initiator

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

const (
	testTarget    = "iqn.2026-11.dev.atgt:initiator-test"
	testInitiator = "iqn.2026-11.dev.atgt:client"
)

// startTarget runs the real target in-process on 127.0.0.1 with one 16 MiB memory LUN.
func startTarget(t *testing.T) string {
	t.Helper()
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: testTarget, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 16 << 20}}}},
	}
	svc, err := target.Start(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("start target: %v", err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(10 * time.Second); err != nil {
			t.Errorf("stop target: %v", err)
		}
	})
	return svc.Addrs()[0]
}

func dial(t *testing.T, addr string, o Options) *Session {
	t.Helper()
	if o.InitiatorName == "" {
		o.InitiatorName = testInitiator
	}
	if o.TargetName == "" && !o.Discovery {
		o.TargetName = testTarget
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	s, err := Dial(addr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
