package inprocess

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// ownGoroutines counts the goroutines that are neither the mailbox pool's parked
// ones (actors/sched keeps them for the process) nor protoactor's dead-letter
// throttle (the embedder's system's).
func ownGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "sched.(*Pool).loop") && !strings.Contains(g, "NewThrottle") {
			n++
		}
	}
	return n
}

// TestEmbedStartStopLeavesNothing: a target started in an embedder's system, served
// a session's writes and an embedder's own task on a file LUN, then stopped (Stop,
// then Shutdown, then Stop again under the same name), leaves no goroutine but the
// mailbox pool's parked ones, and no open file or socket.
func TestEmbedStartStopLeavesNothing(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	dir := t.TempDir()
	files, goroutines := openFiles(t), ownGoroutines()
	for i := range 3 {
		cfg := &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir, Targets: []*pb.Target{{Name: targetName,
			Luns: []*pb.Lun{{Id: 0, Path: filepath.Join(dir, "vm.img"), SizeBytes: lunSize}}}}}
		svc, err := target.StartWith(cfg, hclog.NewNullLogger(), target.Options{System: sys, Name: "vm"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := initiator.Dial(svc.Addrs()[0], initiator.Options{InitiatorName: initiatorName, TargetName: targetName, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ready(t, s, 0)
		if err := s.Write(0, 8, make([]byte, 8*blockSize), blockSize, false); err != nil {
			t.Fatal(err)
		}
		answers, me := embedderReady(sys, svc)
		sys.Root.Send(svc.LUNActor(targetName, 0), &pb.ScsiTask{Itt: 1, Target: targetName, Cdb: read16(8, 1), Read: true,
			ExpectedLength: blockSize, Nexus: "embedder", ReplyTo: pb.NewPid(me)})
		<-answers
		if i == 1 {
			err = svc.Shutdown(time.Second)
		} else {
			err = svc.Stop(10 * time.Second)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		sys.Root.StopFuture(me).Wait()
	}
	var nf, ng int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if nf, ng = openFiles(t), ownGoroutines(); nf <= files && ng <= goroutines {
			return
		}
	}
	t.Fatalf("after 3 starts and stops: %d open files (%d before), %d goroutines (%d before)", nf, files, ng, goroutines)
}
