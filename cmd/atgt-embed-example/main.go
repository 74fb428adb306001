// Command atgt-embed-example shows how a program embeds atgt: it makes its own
// protoactor ActorSystem, defines a LUN backend of its own (cow.go: an in-memory
// copy-on-write overlay over a base file, which is never modified) and hosts an iSCSI
// target serving it in that system, with its own logger. It prints its portal when
// ready ("ready portal=ADDR") and stops cleanly on SIGINT or SIGTERM.
//
//	go run ./cmd/atgt-embed-example -base golden.img -portal 127.0.0.1:3260
//
// Writes from initiators land in memory and are gone when it exits; the base file
// reads as it was.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func main() { os.Exit(run()) }

func run() int {
	base := flag.String("base", "", "base file the overlay LUN reads through to (required; never modified)")
	portal := flag.String("portal", "127.0.0.1:3260", "listen address IP:PORT (:0 picks a free port)")
	dataDir := flag.String("data", "atgt-embed-data", "the target's data directory (reservations, saved mode pages)")
	iqn := flag.String("iqn", "iqn.2026-11.dev.atgt:embed-example", "the target's name")
	logLevel := flag.String("log-level", "warn", "log level: trace, debug, info, warn, error")
	flag.Parse()
	if *base == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: atgt-embed-example -base FILE [-portal IP:PORT] [-data DIR] [-iqn NAME] [-log-level LEVEL]")
		return 2
	}
	basePath, err := filepath.Abs(*base) // a relative path would be taken under -data
	if err != nil {
		fmt.Fprintf(os.Stderr, "atgt-embed-example: %v\n", err)
		return 2
	}

	// The program's own logger and actor system; protoactor's lines go to the logger
	// too. The system is the program's: the target never shuts it down.
	log := hclog.New(&hclog.LoggerOptions{Name: "embed-example", Level: hclog.LevelFromString(*logLevel), Output: os.Stderr})
	system := actor.NewActorSystem(target.WithLogger(log))
	defer system.Shutdown()

	cfg := &pb.Config{
		Portals: []string{*portal},
		DataDir: *dataDir,
		Targets: []*pb.Target{{Name: *iqn, Luns: []*pb.Lun{overlayLUN(0, basePath)}}},
	}
	svc, err := target.StartWith(cfg, log, target.Options{
		System:   system,
		Name:     "embed-example", // the root actor's name in the program's system
		Backends: map[string]target.BackendFactory{"cow": newCOW},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "atgt-embed-example: %v\n", err)
		return 1
	}
	// The target's Go API (*target.Service, the admin service's methods) changes
	// LUNs while it serves: LUN 1, a second overlay over the same base, independent of
	// LUN 0's, is added as an administrator's `atgtctl lun add` would add it.
	if _, err := svc.AddLun(context.Background(), &pb.AddLunRequest{Target: *iqn, Lun: overlayLUN(1, basePath)}); err != nil {
		fmt.Fprintf(os.Stderr, "atgt-embed-example: add LUN 1: %v\n", err)
		_ = svc.Shutdown(time.Second)
		return 1
	}
	for _, l := range svc.LUNs() {
		fmt.Printf("target %s lun %d base %s size %d\n", l.Target, l.ID, l.Path, l.Size)
	}
	fmt.Printf("ready portal=%s\n", svc.Addrs()[0])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	fmt.Printf("stopping (signal %s)\n", s)
	// Initiators are asked to log out; the overlay is dropped and the base closed.
	if err := svc.Shutdown(10 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "atgt-embed-example: stop: %v\n", err)
		return 1
	}
	fmt.Println("stopped")
	return 0
}

// overlayLUN is the config of a LUN served by the program's copy-on-write backend
// ("cow", registered in Options.Backends) over the base file at path, as large as the
// base file.
func overlayLUN(id uint64, path string) *pb.Lun {
	return &pb.Lun{Id: id, Backend: "cow", Path: path}
}
