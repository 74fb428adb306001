// Command atgtd is the atgt iSCSI target daemon. With no -config it serves an
// embedded default: one target with one 1 GiB sparse file LUN on 127.0.0.1:3260,
// open to every initiator.
package main

import (
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // profiles behind -pprof only
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func main() {
	os.Exit(run())
}

func run() int {
	// A stdout or stderr that nobody reads any more (`atgtd | tee log` interrupted,
	// a log shipper gone) must not kill atgtd by SIGPIPE before its clean stop: with
	// SIGPIPE ignored a write there fails with EPIPE, which fmt and hclog ignore.
	signal.Ignore(syscall.SIGPIPE)
	// Signals are caught before the target serves: initiators log in as soon as a
	// portal listens, without waiting for READY, so a stop requested during the
	// start is a clean one too (the loop below takes it once the start is done).
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	portal := flag.String("portal", "", "listen address IP:PORT (default 127.0.0.1:3260; overrides the config's portals)")
	dataDir := flag.String("data", "", "data directory for LUN files (default ./atgt-data; overrides the config's dataDir)")
	configPath := flag.String("config", "", "config file (protobuf JSON); without it <data dir>/atgt.json if it exists, else the embedded default. Admin changes are saved to it")
	logLevel := flag.String("log-level", "warn", "log level: trace, debug, info, warn, error")
	pprofAddr := flag.String("pprof", "", "serve Go's net/http/pprof profiles on this loopback address (e.g. 127.0.0.1:6060; another needs -expose) for performance work")
	adminSocket := flag.String("admin-socket", "", `the admin service's unix socket, for atgtctl (default <data dir>/atgtd.sock; "off": none)`)
	adminAddr := flag.String("admin-addr", "", "also serve the admin service on this loopback TCP address (e.g. 127.0.0.1:3261); every call must carry the token of -admin-token-file")
	adminTokenFile := flag.String("admin-token-file", "", "with -admin-addr: the bearer token's file (default <data dir>/admin.token), written mode 0600 with a new random token at each start")
	metricsAddr := flag.String("metrics", "", "serve Prometheus metrics at /metrics on this loopback address (e.g. 127.0.0.1:9090; another needs -expose)")
	expose := flag.Bool("expose", false, "let -pprof and -metrics listen on a non-loopback address: neither has authentication")
	otlpURL := flag.String("otlp", "", "send each finished task as OpenTelemetry spans to this OTLP/HTTP receiver (e.g. http://127.0.0.1:4318; overrides the config's otlpEndpoint)")
	traceLevel := flag.String("trace", "", "trace level at start: off, light (every hop of every task) or full (with messages); default the config's traceLevel, off")
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
	if *traceLevel != "" && *traceLevel != "off" && *traceLevel != "light" && *traceLevel != "full" {
		fmt.Fprintf(os.Stderr, "atgtd: -trace %q is not off, light or full\n", *traceLevel)
		return 2
	}
	// From here every line goes through a bounded buffer (output.go): a log call
	// never waits for the output; lines a blocked output cannot take are dropped,
	// counted (atgt_log_lines_dropped_total) and reported once it drains.
	output := startOutput()
	defer output.Close(logFlushTimeout)
	log := hclog.New(&hclog.LoggerOptions{Name: "atgtd", Level: level, Output: stderr})

	if *pprofAddr != "" {
		ln, err := listenLocal("-pprof", *pprofAddr, *expose)
		if err != nil {
			fmt.Fprintf(stderr, "atgtd: -pprof: %v\n", err)
			return 2
		}
		go http.Serve(ln, nil) //nolint:errcheck // ends with the process
	}
	saveTo, cfg, err := loadConfig(*configPath, *dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "atgtd: %v\n", err)
		return 1
	}
	// -portal and -data override the file's values without changing the file.
	override := func(c *pb.Config) {
		if *portal != "" {
			c.Portals = []string{*portal}
		}
		if *dataDir != "" {
			c.DataDir = *dataDir
		}
	}
	file := cfg
	cfg = proto.Clone(file).(*pb.Config)
	override(cfg)
	raiseFileLimit(cfg, log)
	// OpenTelemetry export (otel.go): its sink is passed to the target; flushed after the stop.
	sinks, stopOTLP, code := startOTLP(cfg, *otlpURL, *traceLevel, log)
	if code != 0 {
		return code
	}
	defer stopOTLP()
	// Start validates the config, max_procs and gc_percent included.
	svc, err := target.StartWith(file, log, target.Options{ConfigPath: saveTo, Override: override, TraceSinks: sinks,
		TraceLevel: *traceLevel, SharedStores: os.Getenv(sharedStoresEnv) == "1"})
	if err != nil {
		fmt.Fprintf(stderr, "atgtd: %v\n", err)
		return 1
	}
	svc.Metrics().SetLogDrops(output)
	_, envSet := os.LookupEnv("GOMAXPROCS")
	available := runtime.GOMAXPROCS(0)
	if n := target.GoMaxProcs(cfg, available, envSet); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	_, gogcSet := os.LookupEnv("GOGC")
	if p := target.GCPercent(cfg, gogcSet); p > 0 {
		debug.SetGCPercent(p)
	}
	if *metricsAddr != "" {
		bound, err := serveMetrics(*metricsAddr, *expose, svc)
		if err != nil {
			fmt.Fprintf(stderr, "atgtd: -metrics: %v\n", err)
			_ = svc.Stop(10 * time.Second)
			return 2
		}
		fmt.Fprintf(stdout, "metrics http://%s/metrics\n", bound)
	}
	// How many CPUs run Go code (maxProcs), for the log and for benchmarks.
	fmt.Fprintf(stdout, "procs %d of %d\n", runtime.GOMAXPROCS(0), available)
	for _, l := range svc.LUNs() {
		if l.Initiator != "" { // an initiator's own LUN
			fmt.Fprintf(stdout, "target %s lun %d path %s size %d initiator %s\n", l.Target, l.ID, l.Path, l.Size, l.Initiator)
			continue
		}
		fmt.Fprintf(stdout, "target %s lun %d path %s size %d\n", l.Target, l.ID, l.Path, l.Size)
	}
	addrs := svc.Addrs()
	for _, a := range addrs[1:] {
		fmt.Fprintf(stdout, "portal %s\n", a)
	}
	// The admin service starts once the target serves, before "ready".
	adminSrv, err := serveAdmin(svc, adminSocketPath(*adminSocket, cfg), *adminAddr, adminTokenPath(*adminTokenFile, cfg), log)
	switch {
	case err != nil && *adminSocket == "" && *adminAddr == "":
		// The default socket could not be made (a path too long for a unix socket,
		// another daemon's live socket): the target serves on, without atgtctl.
		log.Error("admin socket not served; use -admin-socket PATH", "error", err)
	case err != nil:
		fmt.Fprintf(stderr, "atgtd: %v\n", err)
		_ = svc.Shutdown(0)
		return 1
	}
	if adminSrv != nil && adminSrv.SocketPath() != "" {
		fmt.Fprintf(stdout, "admin socket %s\n", adminSrv.SocketPath())
	}
	if adminSrv != nil && adminSrv.TCPAddr() != nil {
		fmt.Fprintf(stdout, "admin addr %s\n", adminSrv.TCPAddr())
		fmt.Fprintf(stdout, "admin token %s\n", adminTokenPath(*adminTokenFile, cfg)) // the file, never the token
	}
	fmt.Fprintf(stdout, "ready portal=%s\n", addrs[0])
	notify(log, "READY=1") // every portal listens: a Type=notify unit is started
	// A reload runs off this loop (serialised with the admin changes by the
	// service), so that SIGTERM is handled at once even during a long one (whose
	// waits the stop then ends); a SIGHUP during a reload runs one more after it.
	reloads := make(chan struct{}, 1)
	go func() {
		for range reloads {
			reload(svc, saveTo, log)
		}
	}()
	var s os.Signal
	for s == nil {
		select {
		case <-hup:
			select {
			case reloads <- struct{}{}:
			default: // one is already waiting: it reads the file as it is then
			}
		case s = <-sig:
		}
	}
	// SIGHUP stays caught until the process ends (never signal.Stop, which would
	// give it back its default action, terminate): a reload or a terminal's hangup
	// during the stop is logged and ignored.
	go func() {
		for range hup {
			log.Warn("SIGHUP during the stop: ignored (no reload)")
		}
	}()
	notify(log, "STOPPING=1")
	// The stop may take longer than the unit's TimeoutStopSec (a long grace, a slow
	// flush): ask systemd (>= 236) for the most it can take, so that it does not
	// SIGKILL atgtd during a clean stop. An older systemd ignores it.
	notify(log, fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", (target.ShutdownLimit(svc.Grace())+logFlushTimeout).Microseconds()))
	// A clean stop asks the initiators to log out, waits for them up to the grace
	// period, and flushes every LUN (in parallel, at most target.FinalFlushTimeout;
	// a LUN not flushed makes the exit status 1); a second signal ends the process
	// at once.
	log.Warn("stopping: asking initiators to log out", "signal", s.String(), "grace", svc.Grace())
	fmt.Fprintf(stdout, "stopping (signal %s); a second signal exits at once\n", s)
	go func() {
		s := <-sig
		fmt.Fprintf(stderr, "atgtd: second signal (%s): exiting without a clean stop\n", s)
		output.Close(logFlushTimeout / 4)
		os.Exit(exitSecondSignal)
	}()
	if adminSrv != nil { // no admin changes while the target stops
		if err := adminSrv.Close(); err != nil {
			log.Warn("admin socket", "error", err)
		}
	}
	if err := svc.Shutdown(svc.Grace()); err != nil {
		fmt.Fprintf(stderr, "atgtd: stop: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "stopped")
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
		log.Warn("the open file limit is below what maxConnections lets the portals hold; raise it (ulimit -n, LimitNOFILE=) or lower maxConnections",
			"limit", r.Cur, "maxConnections", cfg.MaxConnections, "portals", len(cfg.Portals))
	}
}

// exitSecondSignal is atgtd's exit status when a second signal cut the clean stop
// short: 128 + SIGINT's number, as a shell reports an interrupted program.
const exitSecondSignal = 130
