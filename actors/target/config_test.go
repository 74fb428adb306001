package target

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := ApplyDefaults(DefaultConfig())
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	l := cfg.Targets[0].Luns[0]
	if cfg.Portals[0] != DefaultPortal || cfg.QueueDepth != DefaultQueueDepth || l.Workers != DefaultWorkers ||
		l.BlockSize != 512 || !l.GetWriteCache() || l.Path != filepath.Join(DefaultDataDir, "lun0.img") ||
		cfg.Targets[0].Name != DefaultTargetName || l.SizeBytes != 1<<30 || cfg.LoginTimeoutSeconds != DefaultLoginTimeout ||
		l.GetIoTimeout() != DefaultIOTimeout || cfg.MaxConnections != DefaultMaxConnections ||
		cfg.MaxConnectionsPerAddress != DefaultMaxConnectionsPerAddr || cfg.WriteTimeoutSeconds != DefaultWriteTimeout ||
		cfg.MaxLoginFailures != DefaultMaxLoginFailures || cfg.LoginFailureWindowSeconds != DefaultLoginFailureWindow {
		t.Fatalf("unexpected defaults: %v", cfg)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []badField{
		{"portals[0]", func(c *pb.Config) { c.Portals = []string{"nonsense"} }},
		{"queueDepth", func(c *pb.Config) { c.QueueDepth = 1 << 20 }},
		{"maxProcs", func(c *pb.Config) { c.MaxProcs = 5000 }},
		{"gcPercent", func(c *pb.Config) { c.GcPercent = 200000 }},
		{"readerSpinMicroseconds", func(c *pb.Config) { c.ReaderSpinMicroseconds = proto.Uint32(1001) }},
		{"loginTimeoutSeconds", func(c *pb.Config) { c.LoginTimeoutSeconds = 3601 }},
		{"maxConnections", func(c *pb.Config) { c.MaxConnections = 1<<20 + 1 }},
		{"maxConnectionsPerAddress", func(c *pb.Config) { c.MaxConnectionsPerAddress = 1<<20 + 1 }},
		{"writeTimeoutSeconds", func(c *pb.Config) { c.WriteTimeoutSeconds = 3601 }},
		{"maxLoginFailures", func(c *pb.Config) { c.MaxLoginFailures = 1<<20 + 1 }},
		{"loginFailureWindowSeconds", func(c *pb.Config) { c.LoginFailureWindowSeconds = 86401 }},
		{"negotiation.maxBurstLength", func(c *pb.Config) { c.Negotiation.MaxBurstLength = 100 }},
		{"negotiation.firstBurstLength", func(c *pb.Config) {
			c.Negotiation.FirstBurstLength = 1 << 20
			c.Negotiation.MaxBurstLength = 4096
		}},
		{"negotiation.headerDigest", func(c *pb.Config) { c.Negotiation.HeaderDigest = []string{"MD5"} }},
		{"targets", func(c *pb.Config) { c.Targets = nil }},
		{"targets[0].name", func(c *pb.Config) { c.Targets[0].Name = "disk1" }},
		{"targets[1].name", func(c *pb.Config) { c.Targets = append(c.Targets, proto.Clone(c.Targets[0]).(*pb.Target)) }},
		{"targets[0].allowedInitiators[0]", func(c *pb.Config) { c.Targets[0].AllowedInitiators = []string{"bad name"} }},
		{"targets[0].luns", func(c *pb.Config) { c.Targets[0].Luns = nil }},
		{"targets[0].luns[0].blockSize", func(c *pb.Config) { c.Targets[0].Luns[0].BlockSize = 1000 }},
		{"targets[0].luns[0].sizeBytes", func(c *pb.Config) { c.Targets[0].Luns[0].SizeBytes = 1000 }},
		{"targets[0].luns[0].serial", func(c *pb.Config) { c.Targets[0].Luns[0].Serial = "disk\u00e91" }},
		{"targets[0].luns[0].serial", func(c *pb.Config) { c.Targets[0].Luns[0].Serial = "disk\t1" }},
		{"targets[0].luns[0].serial", func(c *pb.Config) { c.Targets[0].Luns[0].Serial = strings.Repeat("s", 245) }},
		{"targets[0].luns[0].workers", func(c *pb.Config) { c.Targets[0].Luns[0].Workers = 1000 }},
		{"targets[0].luns[0].ioTimeout", func(c *pb.Config) { c.Targets[0].Luns[0].IoTimeout = proto.Float64(0.01) }},
		{"targets[0].luns[0].ioTimeout", func(c *pb.Config) { c.Targets[0].Luns[0].IoTimeout = proto.Float64(1 << 31) }},
		{"targets[0].luns[0].ioTimeout", func(c *pb.Config) { c.Targets[0].Luns[0].IoTimeout = proto.Float64(-1) }},
		{"targets[0].luns[0].ioTimeout", func(c *pb.Config) { c.Targets[0].Luns[0].IoTimeout = proto.Float64(math.NaN()) }},
		{"targets[0].luns[0].backend", func(c *pb.Config) { c.Targets[0].Luns[0].Backend = "nbd" }},
		{"targets[0].luns[0].id", func(c *pb.Config) { c.Targets[0].Luns[0].Id = 1 << 20 }},
		{"targets[0].luns[1].id", func(c *pb.Config) {
			l := proto.Clone(c.Targets[0].Luns[0]).(*pb.Lun)
			l.Path = "other"
			c.Targets[0].Luns = append(c.Targets[0].Luns, l)
		}},
		{"targets[0].luns[1].path", func(c *pb.Config) {
			l := proto.Clone(c.Targets[0].Luns[0]).(*pb.Lun)
			l.Id = 1
			c.Targets[0].Luns = append(c.Targets[0].Luns, l)
		}},
	}
	refusedNaming(t, DefaultConfig, tests)
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"portals":["127.0.0.1:0"],"targets":[{"name":"iqn.2026-11.dev.atgt:t","luns":[{"id":3,"backend":"memory","sizeBytes":"1048576","ioTimeout":0}]}]}`), 0o600)
	cfg, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Targets[0].Luns[0].Id != 3 || cfg.Targets[0].Luns[0].SizeBytes != 1<<20 {
		t.Fatalf("parsed %v", cfg)
	}
	// An explicit 0 disables the timeout; only an absent field takes the default.
	d := ApplyDefaults(cfg)
	if l := d.Targets[0].Luns[0]; l.IoTimeout == nil || *l.IoTimeout != 0 || Validate(d) != nil {
		t.Fatalf("ioTimeout 0 not kept as set: %v (%v)", l.IoTimeout, Validate(d))
	}
	typo := filepath.Join(dir, "typo.json")
	os.WriteFile(typo, []byte(`{"targetz":[]}`), 0o600)
	if _, err := LoadConfig(typo); err == nil || !strings.Contains(err.Error(), "targetz") {
		t.Fatalf("unknown field not reported: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestGoMaxProcs(t *testing.T) {
	tests := []struct {
		maxProcs  uint32
		available int
		envSet    bool
		want      int
	}{
		{0, 1, false, 1},
		{0, 2, false, 1}, // a 2-CPU machine runs Go code on one
		{0, 3, false, 2},
		{0, 8, false, 4},
		{0, 8, true, 0}, // GOMAXPROCS in the environment wins over the automatic choice
		{6, 8, true, 6}, // and max_procs over both
		{16, 2, false, 16},
		{0, 0, false, 0},
	}
	for _, tc := range tests {
		if got := GoMaxProcs(&pb.Config{MaxProcs: tc.maxProcs}, tc.available, tc.envSet); got != tc.want {
			t.Errorf("GoMaxProcs(maxProcs %d, %d CPUs, env %v) = %d, want %d", tc.maxProcs, tc.available, tc.envSet, got, tc.want)
		}
	}
}

func TestGCPercent(t *testing.T) {
	tests := []struct {
		gcPercent uint32
		envSet    bool
		want      int
	}{
		{0, false, DefaultGCPercent},
		{0, true, 0}, // GOGC in the environment wins over the default
		{150, true, 150},
		{150, false, 150},
	}
	for _, tc := range tests {
		if got := GCPercent(&pb.Config{GcPercent: tc.gcPercent}, tc.envSet); got != tc.want {
			t.Errorf("GCPercent(gcPercent %d, env %v) = %d, want %d", tc.gcPercent, tc.envSet, got, tc.want)
		}
	}
}

func TestValidateFaults(t *testing.T) {
	p := func(v float64) *float64 { return &v }
	tests := []struct {
		fault *pb.Fault
		want  string // "" = valid
	}{
		{&pb.Fault{Kind: "error"}, ""},
		{&pb.Fault{Op: "read", Kind: "error", Offset: 4096, Length: 4096, Count: 1, Probability: p(0)}, ""},
		{&pb.Fault{Op: "sync", Kind: "hang"}, ""},
		{&pb.Fault{Op: "write", Kind: "hang", DelayMs: 100}, ""},
		{&pb.Fault{Op: "unmap", Kind: "delay", DelayMs: 5, Probability: p(1)}, ""},
		{&pb.Fault{Op: "any", Kind: "lunPanic", Length: 512}, ""},
		{&pb.Fault{Kind: "boom"}, `faults[0].kind: "boom" is not error, panic, hang, delay or lunPanic`},
		{&pb.Fault{Kind: ""}, `faults[0].kind: "" is not error`},
		{&pb.Fault{Op: "flush", Kind: "error"}, `faults[0].op: "flush" is not read, write, sync, unmap or any`},
		{&pb.Fault{Kind: "error", Probability: p(1.5)}, "faults[0].probability: 1.5 is outside 0..1"},
		{&pb.Fault{Kind: "error", Probability: p(-0.1)}, "faults[0].probability: -0.1 is outside 0..1"},
		{&pb.Fault{Kind: "error", Probability: p(math.NaN())}, "faults[0].probability: NaN is outside 0..1"},
		{&pb.Fault{Kind: "delay"}, "faults[0].delayMs: a delay fault needs a delay"},
		{&pb.Fault{Kind: "panic", DelayMs: 5}, "faults[0].delayMs: 5 applies only to delay and hang faults, not panic"},
		{&pb.Fault{Op: "sync", Kind: "error", Offset: 512}, "faults[0].offset: a sync fault has no byte range"},
		{&pb.Fault{Op: "sync", Kind: "error", Length: 512}, "faults[0].length: a sync fault has no byte range"},
		{&pb.Fault{Kind: "error", Offset: 1 << 63}, "faults[0].offset: 9223372036854775808 exceeds"},
		{&pb.Fault{Kind: "error", Offset: 1 << 62, Length: 1 << 62}, "faults[0].length: 4611686018427387904 from offset"},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			cfg := ApplyDefaults(DefaultConfig())
			cfg.Targets[0].Luns[0].Faults = []*pb.Fault{tc.fault}
			err := Validate(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want == "" && err == nil:
			case err == nil:
				t.Fatal("accepted")
			case !strings.HasPrefix(err.Error(), "config: targets[0].luns[0]."+tc.want):
				t.Fatalf("error %q, want config: targets[0].luns[0].%s", err, tc.want)
			}
		})
	}
	// The field names are exactly the issue's, in protobuf JSON.
	path := filepath.Join(t.TempDir(), "faults.json")
	os.WriteFile(path, []byte(`{"targets":[{"name":"iqn.2026-11.dev.atgt:t","luns":[{"id":0,"backend":"memory","sizeBytes":"1048576",
		"faults":[{"op":"read","kind":"error","probability":0.5,"delayMs":0,"offset":4096,"length":512,"count":3},
		          {"op":"write","kind":"delay","delayMs":20}]}]}]}`), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(ApplyDefaults(cfg)); err != nil {
		t.Fatal(err)
	}
	got := lunFaults(cfg.Targets[0].Luns[0].Faults)
	want := []faults.Fault{
		{Op: faults.Read, Kind: faults.Error, Probability: 0.5, Offset: 4096, Length: 512, Count: 3},
		{Op: faults.Write, Kind: faults.Delay, Probability: 1, Delay: 20 * time.Millisecond},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lunFaults = %v, want %v", got, want)
	}
}

// TestREADMEFaultsExample: the fault injection example in the README is a valid LUN.
func TestREADMEFaultsExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Fault injection")
	_, block, ok2 := strings.Cut(section, "```json\n")
	lunJSON, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no JSON example under ### Fault injection")
	}
	path := filepath.Join(t.TempDir(), "readme.json")
	os.WriteFile(path, []byte(`{"targets":[{"name":"iqn.2026-11.dev.atgt:t","luns":[`+lunJSON+`]}]}`), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(ApplyDefaults(cfg)); err != nil {
		t.Fatal(err)
	}
	if fs := lunFaults(cfg.Targets[0].Luns[0].Faults); len(fs) != 4 || fs[1].Probability != 0.1 || fs[0].Probability != 1 {
		t.Fatalf("README example read as %v", fs)
	}
}

// badField is a config edit Validate must refuse, and the field its error must name.
type badField struct {
	field string
	edit  func(c *pb.Config)
}

// refusedNaming checks that Validate refuses each edit of base (with defaults
// applied) with an error naming the edit's field, every field by its JSON name.
func refusedNaming(t *testing.T, base func() *pb.Config, tests []badField) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			cfg := ApplyDefaults(base())
			tc.edit(cfg)
			err := Validate(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
			checkJSONNames(t, err.Error())
		})
	}
}
