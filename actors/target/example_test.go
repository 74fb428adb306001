package target_test

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// textDisk is an embedder's backend: a read-only disk whose first bytes are a text.
// Any type with the backend.Backend methods will do; IO workers call it concurrently,
// so it must be safe for that (this one never changes).
type textDisk struct {
	text []byte
	size int64
}

// ReadAt reads the text, then zeros.
func (d *textDisk) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(d.text)) {
		copy(p, d.text[off:])
	}
	return len(p), nil
}

// WriteAt, Size, Sync, Unmap and Close complete the backend.Backend interface of a
// read-only disk with nothing to flush or release.
func (d *textDisk) WriteAt([]byte, int64, bool) error { return backend.ErrReadOnly }
func (d *textDisk) Size() int64                       { return d.size }
func (d *textDisk) Sync() error                       { return nil }
func (d *textDisk) Unmap(int64, int64) error          { return backend.ErrReadOnly }
func (d *textDisk) Close() error                      { return nil }

// readFirstBlock logs in to a target with the project's Go initiator (a small test
// client, tests/initiator) and reads LUN 0's first block.
func readFirstBlock(addr, iqn string) string {
	s, err := initiator.Dial(addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.example:client", TargetName: iqn})
	if err != nil {
		return err.Error()
	}
	defer s.Close()
	s.TestUnitReady(0) // takes the unit attention a new session gets first (POWER ON)
	data, err := s.Read(0, 0, 1, 512)
	if err != nil {
		return err.Error()
	}
	return string(bytes.TrimRight(data, "\x00"))
}

// A target hosted in the embedder's own ActorSystem, logging to the embedder's
// logger, with a LUN served by a backend the embedder defines and names "text".
func ExampleStartWith() {
	log := hclog.NewNullLogger() // the embedder's logger
	system := actor.NewActorSystem(target.WithLogger(log))
	defer system.Shutdown() // the embedder's to end; the target never does

	dir, _ := os.MkdirTemp("", "atgt-example-") // the target's data directory
	defer os.RemoveAll(dir)

	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{
			Name: "iqn.2026-11.dev.example:text",
			Luns: []*pb.Lun{{Id: 0, Backend: "text", SizeBytes: 1 << 20}},
		}},
	}
	svc, err := target.StartWith(cfg, log, target.Options{
		System: system,
		Backends: map[string]target.BackendFactory{
			"text": func(l *pb.Lun) (backend.Backend, error) {
				return &textDisk{text: []byte("hello from the embedder's backend"), size: int64(l.SizeBytes)}, nil
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Shutdown(time.Second) // logs initiators out, flushes, closes; the system runs on

	fmt.Println(readFirstBlock(svc.Addrs()[0], "iqn.2026-11.dev.example:text"))
	// Output:
	// hello from the embedder's backend
}

// Two targets side by side in one ActorSystem: each Service has its own root actor
// name (Options.Name), portal and LUNs.
func ExampleStartWith_twoTargets() {
	system := actor.NewActorSystem(target.WithLogger(hclog.NewNullLogger()))
	defer system.Shutdown()
	dir, _ := os.MkdirTemp("", "atgt-example-")
	defer os.RemoveAll(dir)

	var services []*target.Service
	for _, name := range []string{"disks", "scratch"} {
		iqn := "iqn.2026-11.dev.example:" + name
		svc, err := target.StartWith(&pb.Config{
			Portals: []string{"127.0.0.1:0"},
			DataDir: dir,
			Targets: []*pb.Target{{Name: iqn, Luns: []*pb.Lun{{Id: 0, Backend: "text", SizeBytes: 1 << 20}}}},
		}, hclog.NewNullLogger(), target.Options{
			System: system,
			Name:   name, // the default, "target", would be taken by the first
			Backends: map[string]target.BackendFactory{"text": func(l *pb.Lun) (backend.Backend, error) {
				return &textDisk{text: []byte("this is " + name), size: int64(l.SizeBytes)}, nil
			}},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer svc.Stop(10 * time.Second)
		services = append(services, svc)
	}
	fmt.Println(readFirstBlock(services[0].Addrs()[0], "iqn.2026-11.dev.example:disks"))
	fmt.Println(readFirstBlock(services[1].Addrs()[0], "iqn.2026-11.dev.example:scratch"))

	// A third under a name in use is refused before it opens anything.
	_, err := target.StartWith(&pb.Config{Targets: []*pb.Target{{Name: "iqn.2026-11.dev.example:x",
		Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}}},
		hclog.NewNullLogger(), target.Options{System: system, Name: "disks"})
	fmt.Println(err)
	// Output:
	// this is disks
	// this is scratch
	// start actor tree: "disks": the target's actor name is already used in this actor system; give each Service its own Options.Name
}

// storage is an embedder's actor that hosts a target as its child: the target's
// actors stop when it stops.
type storage struct {
	cfg   *pb.Config
	ready chan *target.Service
}

// Receive starts the target as the actor starts.
func (s *storage) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		// A Context is valid only inside Receive, so the target starts here.
		svc, err := target.StartWith(s.cfg, hclog.NewNullLogger(), target.Options{Parent: ctx, Name: "iscsi"})
		if err != nil {
			fmt.Println(err)
		}
		s.ready <- svc
	}
}

// A target spawned under one of the embedder's actors (Options.Parent).
func ExampleOptions_parent() {
	system := actor.NewActorSystem(target.WithLogger(hclog.NewNullLogger()))
	defer system.Shutdown()
	dir, _ := os.MkdirTemp("", "atgt-example-")
	defer os.RemoveAll(dir)
	ready := make(chan *target.Service, 1)
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: "iqn.2026-11.dev.example:child", Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}},
	}
	system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &storage{cfg: cfg, ready: ready} }), "storage")
	svc := <-ready
	if svc == nil {
		return
	}
	defer svc.Stop(10 * time.Second)
	_, running := system.ProcessRegistry.GetLocal("storage/iscsi/sessions")
	fmt.Println("session manager under storage/iscsi:", running)
	fmt.Printf("read: %q\n", readFirstBlock(svc.Addrs()[0], "iqn.2026-11.dev.example:child"))
	// Output:
	// session manager under storage/iscsi: true
	// read: ""
}
