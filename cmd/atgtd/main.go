// Command atgtd is the atgt iSCSI target daemon. With no -config it serves an
// embedded default: one target with one 1 GiB sparse file LUN on 127.0.0.1:3260,
// open to every initiator.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles behind -pprof only
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func main() {
	os.Exit(run())
}

func run() int {
	portal := flag.String("portal", "", "listen address IP:PORT (default 127.0.0.1:3260; overrides the config's portals)")
	dataDir := flag.String("data", "", "data directory for LUN files (default ./atgt-data; overrides the config's data_dir)")
	configPath := flag.String("config", "", "config file (protobuf JSON); without it the embedded default is served")
	logLevel := flag.String("log-level", "warn", "log level: trace, debug, info, warn, error")
	pprofAddr := flag.String("pprof", "", "serve Go's net/http/pprof profiles on this address (e.g. 127.0.0.1:6060) for performance work")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "atgtd: unexpected argument %q\n", flag.Arg(0))
		return 2
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(os.Stderr, "atgtd: -log-level %q is not one of trace, debug, info, warn, error\n", *logLevel)
		return 2
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "atgtd", Level: level, Output: os.Stderr})

	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "atgtd: -pprof: %v\n", err)
			return 2
		}
		go http.Serve(ln, nil) //nolint:errcheck // ends with the process
	}
	var cfg *pb.Config
	if *configPath != "" {
		var err error
		if cfg, err = target.LoadConfig(*configPath); err != nil {
			fmt.Fprintf(os.Stderr, "atgtd: %v\n", err)
			return 1
		}
	} else {
		cfg = target.DefaultConfig()
	}
	if *portal != "" {
		cfg.Portals = []string{*portal}
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	raiseFileLimit(cfg, log)
	svc, err := target.Start(cfg, log) // validates cfg, max_procs and gc_percent included
	if err != nil {
		fmt.Fprintf(os.Stderr, "atgtd: %v\n", err)
		return 1
	}
	_, envSet := os.LookupEnv("GOMAXPROCS")
	available := runtime.GOMAXPROCS(0)
	if n := target.GoMaxProcs(cfg, available, envSet); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	_, gogcSet := os.LookupEnv("GOGC")
	if p := target.GCPercent(cfg, gogcSet); p > 0 {
		debug.SetGCPercent(p)
	}
	// How many CPUs run Go code (maxProcs), for the log and for benchmarks.
	fmt.Printf("procs %d of %d\n", runtime.GOMAXPROCS(0), available)
	for _, l := range svc.LUNs() {
		if l.Initiator != "" { // an initiator's own LUN
			fmt.Printf("target %s lun %d path %s size %d initiator %s\n", l.Target, l.ID, l.Path, l.Size, l.Initiator)
			continue
		}
		fmt.Printf("target %s lun %d path %s size %d\n", l.Target, l.ID, l.Path, l.Size)
	}
	addrs := svc.Addrs()
	for _, a := range addrs[1:] {
		fmt.Printf("portal %s\n", a)
	}
	// Signals are caught before anyone is told the daemon is ready, so that a stop
	// requested at once is a clean one.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Printf("ready portal=%s\n", addrs[0])
	notify(log, "READY=1") // every portal listens: a Type=notify unit is started

	s := <-sig
	notify(log, "STOPPING=1")
	// A clean stop asks the initiators to log out, waits for them up to the grace
	// period, and flushes every LUN; a second signal ends the process at once.
	log.Warn("stopping: asking initiators to log out", "signal", s.String(), "grace", svc.Grace())
	fmt.Printf("stopping (signal %s); a second signal exits at once\n", s)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "atgtd: second signal (%s): exiting without a clean stop\n", s)
		os.Exit(exitSecondSignal)
	}()
	if err := svc.Shutdown(svc.Grace()); err != nil {
		fmt.Fprintf(os.Stderr, "atgtd: stop: %v\n", err)
		return 1
	}
	fmt.Println("stopped")
	return 0
}

// raiseFileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the hard
// limit, as the Go runtime also does at start, and warns when it is below what the
// portals may hold under max_connections: connections beyond it fail at accept
// (logged, retried with a back-off) instead of being refused by the cap.
func raiseFileLimit(in *pb.Config, log hclog.Logger) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			log.Warn("could not raise the open file limit", "error", err)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
		}
	}
	cfg := target.ApplyDefaults(in)
	const spare = 256 // LUN files, listeners, pprof, logs
	if need := uint64(cfg.MaxConnections)*uint64(len(cfg.Portals)) + spare; r.Cur < need {
		log.Warn("the open file limit is below what max_connections lets the portals hold; raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
			"limit", r.Cur, "max_connections", cfg.MaxConnections, "portals", len(cfg.Portals))
	}
}

// exitSecondSignal is atgtd's exit status when a second signal cut the clean stop
// short: 128 + SIGINT's number, as a shell reports an interrupted program.
const exitSecondSignal = 130
