package target

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// DefaultTargetName is the IQN of the embedded default target.
const DefaultTargetName = "iqn.2026-11.dev.atgt:default"

// Defaults applied to unset config fields.
const (
	DefaultPortal        = "127.0.0.1:3260"
	DefaultDataDir       = "atgt-data"
	DefaultQueueDepth    = 128
	DefaultWorkers       = 4
	DefaultIOTimeout     = 30.0 // seconds a backend call may take before it is abandoned
	minIOTimeout         = 0.1  // the watchdog ticks every quarter of it
	maxIOTimeout         = 3600.0
	DefaultBlockSize     = 512
	DefaultLUNSize       = 1 << 30
	DefaultNopInterval   = 30
	DefaultNopTimeout    = 30
	DefaultLoginTimeout  = 15   // seconds from accept to the full feature phase
	maxLoginTimeout      = 3600 // a login deadline longer than an hour bounds nothing
	DefaultShutdownGrace = 10   // seconds a stopping target waits for logouts
	maxShutdownGrace     = 3600
	DefaultReaderSpin    = 50 // µs a reader spins for the next lone command (spin.go in actors/conn)
	maxReaderSpin        = 1000
	maxQueueDepth        = 4096
	maxProcs             = 4096
	DefaultGCPercent     = 400 // atgtd's GOGC unless the config or the environment sets one
	maxGCPercent         = 100000
	maxWorkers           = 256
	maxLUNID             = 16383
	minSegment, maxSeg   = 512, 1<<24 - 1
	defaultMaxRecvSeg    = 262144
	defaultMaxBurst      = 1 << 20
	defaultFirstBurst    = 262144
	defaultMaxOutstandR2 = 16
)

// Connection limits (README "Connection limits"), for unset config fields.
const (
	DefaultMaxConnections        = 4096 // per portal
	DefaultMaxConnectionsPerAddr = 256  // per source IP address, over all portals
	maxConnectionLimit           = 1 << 20
	DefaultWriteTimeout          = 30 // seconds without write progress before a connection is closed
	maxWriteTimeout              = 3600
	DefaultMaxLoginFailures      = 30 // failed logins per source address and window
	DefaultLoginFailureWindow    = 60 // seconds; also how long the address is then refused
	maxLoginFailureWindow        = 86400
	DefaultDataOutTimeout        = 20   // seconds a task may wait for Data-Out owed to it
	DefaultMaxWriteBufferMiB     = 1024 // write data buffered by all connections together
	minWriteBufferMiB            = 4    // one command of the LUNs' maximum transfer
	// DefaultMaxReadBufferMiB is the Data-In all connections together may owe or
	// hold: as the write side, 1 GiB, which a 2-CPU box with a few GiB of memory
	// affords and which keeps a large server's honest readers unthrottled (a
	// connection holds at most 64 MiB anyway: 16 of them at their own bound).
	DefaultMaxReadBufferMiB = 1024
	// minReadBufferMiB leaves room for a few commands of the LUNs' maximum
	// transfer (4 MiB) beyond the 4 MiB fair share every connection has.
	minReadBufferMiB = 16
)

// DefaultOTLPServiceName is the service.name of exported spans unless
// otlp_service_name gives one (README "OpenTelemetry").
const DefaultOTLPServiceName = "atgtd"

// badOTLP checks the OpenTelemetry export fields: an endpoint must be an http or
// https URL with a host and no query (the exporter would fail on it only at the
// first export, long after the start), and a service name is one printable line.
func badOTLP(cfg *pb.Config) (field, msg string) {
	if e := cfg.OtlpEndpoint; e != "" {
		u, err := url.Parse(e)
		switch {
		case err != nil:
			return "otlpEndpoint", fmt.Sprintf("%q is not an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318)", e)
		case u.Scheme != "http" && u.Scheme != "https":
			return "otlpEndpoint", fmt.Sprintf("%q is not an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318)", e)
		case u.Host == "":
			return "otlpEndpoint", fmt.Sprintf("%q has no host", e)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			return "otlpEndpoint", fmt.Sprintf("%q has a query, fragment or user: an OTLP endpoint takes none", e)
		}
	}
	if r := cfg.OtlpSampleRatio; !(r >= 0 && r <= 1) { // NaN too
		return "otlpSampleRatio", fmt.Sprintf("%v is not between 0 and 1", r)
	}
	if n := cfg.OtlpServiceName; len(n) > 255 || strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "otlpServiceName", fmt.Sprintf("%q is not up to 255 printable characters", n)
	}
	return "", ""
}

// Tracing (README "Tracing"), for unset config fields.
const (
	DefaultTraceRingTasks      = 256  // finished traced tasks kept per connection
	DefaultFlightRecorderTasks = 64   // last tasks kept per LUN
	DefaultTraceSinkQueue      = 1024 // timelines queued for the sinks
	maxTraceTasks              = 1 << 16
)

// DefaultConfig is the embedded configuration used when no -config is given: one
// target with one 1 GiB sparse file LUN, open to every initiator.
func DefaultConfig() *pb.Config {
	return &pb.Config{
		Targets: []*pb.Target{{
			Name: DefaultTargetName,
			Luns: []*pb.Lun{{Id: 0, Path: "lun0.img", SizeBytes: DefaultLUNSize}},
		}},
	}
}

// LoadConfig reads a protobuf-JSON config file. Unknown fields are errors, so a typo
// in a field name is reported rather than silently ignored. A file that holds a CHAP
// secret and that every user may read is refused. The config is returned exactly as
// written: a relative secretFile stays relative (to the file's directory, which the
// service resolves into its served copy: Options.ConfigPath), so that what admin
// changes save is what the administrator wrote plus the change.
func LoadConfig(path string) (*pb.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &pb.Config{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(raw, cfg); err != nil {
		if msg, hidden := hideParseError(raw, err); hidden {
			return nil, fmt.Errorf("config %s: %s", path, msg)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if holdsSecret(cfg) && worldReadable(fi) {
		return nil, fmt.Errorf("config %s: holds a CHAP secret and is readable by every user (mode %04o): chmod o-r %s, or move the secrets to secretFile",
			path, fi.Mode().Perm(), path)
	}
	return cfg, nil
}

// orDefault sets *v to def when *v is the zero value (the field was left unset).
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// ApplyDefaults returns a copy of cfg with every unset field given its default.
func ApplyDefaults(in *pb.Config) *pb.Config {
	cfg := proto.Clone(in).(*pb.Config)
	if len(cfg.Portals) == 0 {
		cfg.Portals = []string{DefaultPortal}
	}
	for i, p := range cfg.Portals {
		cfg.Portals[i] = withDefaultPort(p)
	}
	// Scalars left at zero take their defaults.
	orDefault(&cfg.DataDir, DefaultDataDir)
	orDefault(&cfg.QueueDepth, DefaultQueueDepth)
	orDefault(&cfg.NopIntervalSeconds, DefaultNopInterval)
	orDefault(&cfg.NopTimeoutSeconds, DefaultNopTimeout)
	orDefault(&cfg.LoginTimeoutSeconds, DefaultLoginTimeout)
	orDefault(&cfg.ShutdownGraceSeconds, DefaultShutdownGrace)
	if cfg.ReaderSpinMicroseconds == nil {
		cfg.ReaderSpinMicroseconds = proto.Uint32(DefaultReaderSpin)
	}
	orDefault(&cfg.MaxConnections, DefaultMaxConnections)
	orDefault(&cfg.MaxConnectionsPerAddress, DefaultMaxConnectionsPerAddr)
	orDefault(&cfg.WriteTimeoutSeconds, DefaultWriteTimeout)
	orDefault(&cfg.MaxLoginFailures, DefaultMaxLoginFailures)
	orDefault(&cfg.LoginFailureWindowSeconds, DefaultLoginFailureWindow)
	orDefault(&cfg.DataOutTimeoutSeconds, DefaultDataOutTimeout)
	orDefault(&cfg.MaxWriteBufferMib, DefaultMaxWriteBufferMiB)
	orDefault(&cfg.MaxReadBufferMib, DefaultMaxReadBufferMiB)
	orDefault(&cfg.OtlpServiceName, DefaultOTLPServiceName)
	orDefault(&cfg.TraceRingTasks, DefaultTraceRingTasks)
	orDefault(&cfg.FlightRecorderTasks, DefaultFlightRecorderTasks)
	orDefault(&cfg.TraceSinkQueue, DefaultTraceSinkQueue)
	if cfg.Negotiation == nil {
		cfg.Negotiation = &pb.Negotiation{}
	}
	n := cfg.Negotiation
	if n.MaxRecvDataSegmentLength == 0 {
		n.MaxRecvDataSegmentLength = defaultMaxRecvSeg
	}
	if n.MaxBurstLength == 0 {
		n.MaxBurstLength = defaultMaxBurst
	}
	if n.FirstBurstLength == 0 {
		n.FirstBurstLength = min(defaultFirstBurst, n.MaxBurstLength)
	}
	if n.MaxOutstandingR2T == 0 {
		n.MaxOutstandingR2T = defaultMaxOutstandR2
	}
	if n.ImmediateData == nil {
		n.ImmediateData = proto.Bool(true)
	}
	if n.InitialR2T == nil {
		n.InitialR2T = proto.Bool(false)
	}
	if len(n.HeaderDigest) == 0 {
		n.HeaderDigest = []string{"None", "CRC32C"}
	}
	if len(n.DataDigest) == 0 {
		n.DataDigest = []string{"None", "CRC32C"}
	}
	for _, t := range cfg.Targets {
		orDefault(&t.TargetReset, TargetResetAuto)
		for _, l := range t.Luns {
			defaultLUN(l, cfg.DataDir)
		}
		for _, il := range t.InitiatorLuns {
			for _, l := range il.Luns {
				defaultLUN(l, cfg.DataDir)
			}
		}
	}
	return cfg
}

// defaultLUN gives a LUN's unset fields their defaults; a relative path is made
// relative to dataDir (for a file LUN or an embedder's backend).
func defaultLUN(l *pb.Lun, dataDir string) {
	if l.Backend == "" {
		l.Backend = "file"
	}
	defaultRBD(l)
	if l.BlockSize == 0 {
		l.BlockSize = DefaultBlockSize
	}
	switch {
	case l.IoPolicy == "" && l.DirectIo:
		l.IoPolicy = lun.PolicyDirect
	case l.IoPolicy == "":
		l.IoPolicy = lun.PolicyThreaded
	case l.IoPolicy == lun.PolicyDirect:
		l.DirectIo = true
	}
	if l.Workers == 0 && lun.OneWorker(l.IoPolicy) {
		l.Workers = 1
	}
	if l.Workers == 0 {
		l.Workers = DefaultWorkers
	}
	if l.WriteCache == nil {
		l.WriteCache = proto.Bool(true)
	}
	if l.IoTimeout == nil {
		l.IoTimeout = proto.Float64(DefaultIOTimeout)
	}
	if l.Backend != "memory" && l.Path != "" && !filepath.IsAbs(l.Path) { // file or an embedder's
		l.Path = filepath.Join(dataDir, l.Path)
	}
}

// Validate checks a defaulted config and names the first bad field, e.g.
// "targets[0].luns[1].blockSize: 1000 is not 512 or 4096". It knows only the
// built-in backends; Options.Validate also knows an embedder's. Fields are named as
// the config file writes them (protobuf JSON, lowerCamel), never by their .proto
// names: an administrator edits the file, not the .proto (fieldnames_test.go keeps
// every message of this package so).
func Validate(cfg *pb.Config) error { return validate(cfg, nil) }

// validate is Validate, with custom the embedder's backends by name.
func validate(cfg *pb.Config, custom map[string]BackendFactory) error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, a...))
	}
	for i, p := range cfg.Portals {
		host, port, err := net.SplitHostPort(p)
		if err != nil || port == "" {
			return bad(fmt.Sprintf("portals[%d]", i), "%q is not IP:PORT", p)
		}
		if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			return bad(fmt.Sprintf("portals[%d]", i), "%q is not an IP address", host)
		}
	}
	if _, ok := trace.ParseLevel(cfg.TraceLevel); !ok {
		return bad("traceLevel", "%q is not off, light or full", cfg.TraceLevel)
	}
	if cfg.QueueDepth > maxQueueDepth {
		return bad("queueDepth", "%d exceeds %d", cfg.QueueDepth, maxQueueDepth)
	}
	if cfg.MaxProcs > maxProcs {
		return bad("maxProcs", "%d exceeds %d", cfg.MaxProcs, maxProcs)
	}
	if cfg.GetReaderSpinMicroseconds() > maxReaderSpin {
		return bad("readerSpinMicroseconds", "%d exceeds %d", cfg.GetReaderSpinMicroseconds(), maxReaderSpin)
	}
	if cfg.GcPercent > maxGCPercent {
		return bad("gcPercent", "%d exceeds %d", cfg.GcPercent, maxGCPercent)
	}
	if cfg.LoginTimeoutSeconds > maxLoginTimeout {
		return bad("loginTimeoutSeconds", "%d exceeds %d", cfg.LoginTimeoutSeconds, maxLoginTimeout)
	}
	if cfg.ShutdownGraceSeconds > maxShutdownGrace {
		return bad("shutdownGraceSeconds", "%d exceeds %d", cfg.ShutdownGraceSeconds, maxShutdownGrace)
	}
	for _, f := range []struct {
		name   string
		v, max uint32
	}{
		{"maxConnections", cfg.MaxConnections, maxConnectionLimit},
		{"maxConnectionsPerAddress", cfg.MaxConnectionsPerAddress, maxConnectionLimit},
		{"writeTimeoutSeconds", cfg.WriteTimeoutSeconds, maxWriteTimeout},
		{"maxLoginFailures", cfg.MaxLoginFailures, maxConnectionLimit},
		{"loginFailureWindowSeconds", cfg.LoginFailureWindowSeconds, maxLoginFailureWindow},
		{"dataOutTimeoutSeconds", cfg.DataOutTimeoutSeconds, maxWriteTimeout},
		{"maxWriteBufferMib", cfg.MaxWriteBufferMib, maxConnectionLimit},
		{"maxReadBufferMib", cfg.MaxReadBufferMib, maxConnectionLimit},
		{"traceRingTasks", cfg.TraceRingTasks, maxTraceTasks},
		{"flightRecorderTasks", cfg.FlightRecorderTasks, maxTraceTasks},
		{"traceSinkQueue", cfg.TraceSinkQueue, maxConnectionLimit},
	} {
		if f.v > f.max {
			return bad(f.name, "%d exceeds %d", f.v, f.max)
		}
	}
	if cfg.MaxWriteBufferMib < minWriteBufferMiB {
		return bad("maxWriteBufferMib", "%d is below %d (one command of the maximum transfer)", cfg.MaxWriteBufferMib, minWriteBufferMiB)
	}
	if cfg.MaxReadBufferMib < minReadBufferMiB {
		return bad("maxReadBufferMib", "%d is below %d (a few commands of the maximum transfer)", cfg.MaxReadBufferMib, minReadBufferMiB)
	}
	if field, msg := badOTLP(cfg); field != "" {
		return bad(field, "%s", msg)
	}
	n := cfg.Negotiation
	for _, f := range []struct {
		name string
		v    uint32
	}{
		{"negotiation.maxRecvDataSegmentLength", n.MaxRecvDataSegmentLength},
		{"negotiation.maxBurstLength", n.MaxBurstLength},
		{"negotiation.firstBurstLength", n.FirstBurstLength},
	} {
		if f.v < minSegment || f.v > maxSeg {
			return bad(f.name, "%d is outside %d..%d", f.v, minSegment, maxSeg)
		}
	}
	if n.FirstBurstLength > n.MaxBurstLength {
		return bad("negotiation.firstBurstLength", "%d exceeds maxBurstLength %d", n.FirstBurstLength, n.MaxBurstLength)
	}
	if n.MaxOutstandingR2T > 65535 {
		return bad("negotiation.maxOutstandingR2t", "%d exceeds 65535", n.MaxOutstandingR2T)
	}
	for _, d := range []struct {
		name string
		v    []string
	}{{"negotiation.headerDigest", n.HeaderDigest}, {"negotiation.dataDigest", n.DataDigest}} {
		for _, v := range d.v {
			if v != "None" && v != "CRC32C" {
				return bad(d.name, "%q is not None or CRC32C", v)
			}
		}
	}
	if len(cfg.Targets) == 0 {
		return bad("targets", "at least one target is required")
	}
	if field, msg := badBackends(cfg, custom); field != "" {
		return bad(field, "%s", msg)
	}
	names := map[string]bool{}
	paths := map[string]string{}
	for ti, t := range cfg.Targets {
		tf := fmt.Sprintf("targets[%d]", ti)
		if err := validTargetName(t.Name); err != nil {
			return bad(tf+".name", "%v", err)
		}
		if names[strings.ToLower(t.Name)] { // eui. and naa. hex digits compare in either case
			return bad(tf+".name", "%q is used by another target", t.Name)
		}
		names[strings.ToLower(t.Name)] = true
		if msg := badAlias(t.Alias); msg != "" {
			return bad(tf+".alias", "%s", msg)
		}
		for ai, a := range t.AllowedInitiators {
			if err := validName(a); err != nil {
				return bad(fmt.Sprintf("%s.allowedInitiators[%d]", tf, ai), "%v", err)
			}
		}
		for ni, n := range t.AllowedNetworks {
			if _, err := parseNetwork(n); err != nil {
				return bad(fmt.Sprintf("%s.allowedNetworks[%d]", tf, ni), "%v", err)
			}
		}
		if len(t.Luns) == 0 && len(t.InitiatorLuns) == 0 {
			return bad(tf+".luns", "at least one LUN is required (in luns or initiatorLuns)")
		}
		ids := map[uint64]bool{}
		for li, l := range t.Luns {
			if field, msg := badLUN(l, ids, paths, fmt.Sprintf("%s.luns[%d]", tf, li)); field != "" {
				return bad(field, "%s", msg)
			}
		}
		if field, msg := badInitiatorLuns(t, paths, tf); field != "" {
			return bad(field, "%s", msg)
		}
		if field, msg := badTargetReset(t, tf); field != "" {
			return bad(field, "%s", msg)
		}
		if field, msg := badPortGroups(cfg, t, tf); field != "" {
			return bad(field, "%s", msg)
		}
	}
	if field, msg := badExposure(cfg); field != "" {
		return bad(field, "%s", msg)
	}
	return validateChap(cfg)
}

// badLUN checks one LUN, named lf ("targets[0].luns[1]"), and returns the bad field
// and why, or "". ids holds the LUN numbers of its set so far and paths the backing
// files of every LUN of the config so far (by field); both get this LUN's.
func badLUN(l *pb.Lun, ids map[uint64]bool, paths map[string]string, lf string) (field, msg string) {
	if l.Id > maxLUNID {
		return lf + ".id", fmt.Sprintf("%d exceeds %d", l.Id, maxLUNID)
	}
	if ids[l.Id] {
		return lf + ".id", fmt.Sprintf("LUN %d appears twice", l.Id)
	}
	ids[l.Id] = true
	if l.BlockSize != 512 && l.BlockSize != 4096 {
		return lf + ".blockSize", fmt.Sprintf("%d is not 512 or 4096", l.BlockSize)
	}
	if i := strings.IndexFunc(l.Serial, func(r rune) bool { return r < 0x20 || r > 0x7E }); i >= 0 {
		return lf + ".serial", fmt.Sprintf("%q has a byte that is not printable ASCII at %d: SCSI reports serial numbers in ASCII (VPD 0x80, 0x83)", l.Serial, i)
	}
	if len(l.Serial) > scsidev.MaxSerialLength {
		return lf + ".serial", fmt.Sprintf("%d bytes is over %d", len(l.Serial), scsidev.MaxSerialLength)
	}
	if l.SizeBytes > math.MaxInt64 {
		return lf + ".sizeBytes", fmt.Sprintf("%d is over the largest size a file or device can have (2^63-1 bytes)", l.SizeBytes)
	}
	if l.SizeBytes%uint64(l.BlockSize) != 0 {
		return lf + ".sizeBytes", fmt.Sprintf("%d is not a multiple of blockSize %d", l.SizeBytes, l.BlockSize)
	}
	if l.Workers < 1 || l.Workers > maxWorkers {
		return lf + ".workers", fmt.Sprintf("%d is outside 1..%d", l.Workers, maxWorkers)
	}
	if field, msg := badPolicy(l, lf); field != "" {
		return field, msg
	}
	if t := l.GetIoTimeout(); t != 0 && !(t >= minIOTimeout && t <= maxIOTimeout) {
		return lf + ".ioTimeout", fmt.Sprintf("%g seconds is outside %g..%g (0 disables the timeout)", t, minIOTimeout, maxIOTimeout)
	}
	switch l.Backend {
	case "file":
		if l.Path == "" {
			return lf + ".path", "a file LUN needs a path"
		}
		key := filepath.Clean(l.Path)
		if other, dup := paths[key]; dup {
			return lf + ".path", fmt.Sprintf("%s is also used by %s", l.Path, other)
		}
		paths[key] = lf
	case "memory":
		if l.SizeBytes == 0 {
			return lf + ".sizeBytes", "a memory LUN needs a size"
		}
	case "rbd": // badRBD
	default: // an embedder's (badBackends refused other names); its factory checks the rest
	}
	if field, msg := badRBD(l, paths, lf); field != "" {
		return field, msg
	}
	for fi, f := range l.Faults {
		if field, msg := badFault(f); field != "" {
			return fmt.Sprintf("%s.faults[%d].%s", lf, fi, field), msg
		}
	}
	return "", ""
}

// badPolicy checks a LUN's io_policy against its workers and direct_io: one worker
// is what makes single and single-sync the paper's designs, and O_DIRECT is direct's
// alone, so a config that asks for both is refused rather than half honoured.
func badPolicy(l *pb.Lun, lf string) (field, msg string) {
	if l.IoPolicy != "" && !slices.Contains(lun.Policies, l.IoPolicy) { // "" is threaded
		return lf + ".ioPolicy", fmt.Sprintf("%q is not threaded, single, single-sync or direct", l.IoPolicy)
	}
	if lun.OneWorker(l.IoPolicy) && l.Workers != 1 {
		return lf + ".workers", fmt.Sprintf("%d with ioPolicy %q, which runs one worker: leave workers unset or 1", l.Workers, l.IoPolicy)
	}
	if l.DirectIo && l.IoPolicy != lun.PolicyDirect {
		return lf + ".directIo", fmt.Sprintf("true with ioPolicy %q, which uses the page cache: use ioPolicy \"direct\"", l.IoPolicy)
	}
	return "", ""
}

// badFault returns the field of an injected fault that is wrong and why, or "".
func badFault(f *pb.Fault) (field, msg string) {
	if _, ok := faults.ParseOp(f.Op); !ok {
		return "op", fmt.Sprintf("%q is not read, write, sync, unmap or any", f.Op)
	}
	kind, ok := faults.ParseKind(f.Kind)
	if !ok {
		return "kind", fmt.Sprintf("%q is not %s", f.Kind, faults.KindNames)
	}
	if f.Probability != nil && !(*f.Probability >= 0 && *f.Probability <= 1) {
		return "probability", fmt.Sprintf("%v is outside 0..1", *f.Probability)
	}
	switch {
	case kind == faults.Delay && f.DelayMs == 0:
		return "delayMs", "a delay fault needs a delay"
	case kind != faults.Delay && kind != faults.Hang && f.DelayMs != 0:
		return "delayMs", fmt.Sprintf("%d applies only to delay and hang faults, not %s", f.DelayMs, f.Kind)
	}
	if f.Op == "sync" && (f.Offset != 0 || f.Length != 0) {
		field := "offset"
		if f.Offset == 0 {
			field = "length"
		}
		return field, "a sync fault has no byte range"
	}
	if f.Offset > math.MaxInt64 {
		return "offset", fmt.Sprintf("%d exceeds %d", f.Offset, int64(math.MaxInt64))
	}
	if f.Length > math.MaxInt64-f.Offset {
		return "length", fmt.Sprintf("%d from offset %d exceeds %d", f.Length, f.Offset, int64(math.MaxInt64))
	}
	return "", ""
}

// validName checks the iSCSI name forms of RFC 7143 section 4.2.7.
func validName(s string) error {
	switch {
	case s == "":
		return errors.New("empty iSCSI name")
	case len(s) > 223:
		return fmt.Errorf("%q is longer than 223 bytes", s)
	case strings.HasPrefix(s, "iqn."), strings.HasPrefix(s, "eui."), strings.HasPrefix(s, "naa."):
	default:
		return fmt.Errorf("%q does not start with iqn., eui. or naa.", s)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%q contains a space or control character", s)
		}
	}
	return nil
}

// GoMaxProcs returns the GOMAXPROCS atgtd should run with, or 0 to leave the Go
// runtime's choice alone: max_procs if set; otherwise, unless the GOMAXPROCS
// environment variable chose already, half of the CPUs available (rounded up).
// Fewer CPUs running Go code means fewer actor hand-offs that wake an idle CPU, and
// leaves CPUs for system calls and, on a shared machine, the initiators.
func GoMaxProcs(cfg *pb.Config, available int, envSet bool) int {
	switch {
	case cfg.MaxProcs > 0:
		return int(cfg.MaxProcs)
	case envSet || available < 1:
		return 0
	default:
		return (available + 1) / 2
	}
}

// GCPercent returns the GOGC atgtd should run with, or 0 to leave the Go runtime's
// choice alone: gc_percent if set; otherwise, unless the GOGC environment variable
// chose already, DefaultGCPercent. atgtd's live heap is small, so the runtime's
// default would collect many times a second under load.
func GCPercent(cfg *pb.Config, envSet bool) int {
	switch {
	case cfg.GcPercent > 0:
		return int(cfg.GcPercent)
	case envSet:
		return 0
	default:
		return DefaultGCPercent
	}
}
