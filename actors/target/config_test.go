package target

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

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
		l.GetIoTimeoutMs() != DefaultIOTimeoutMs {
		t.Fatalf("unexpected defaults: %v", cfg)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		field string
		edit  func(c *pb.Config)
	}{
		{"portals[0]", func(c *pb.Config) { c.Portals = []string{"nonsense"} }},
		{"queue_depth", func(c *pb.Config) { c.QueueDepth = 1 << 20 }},
		{"max_procs", func(c *pb.Config) { c.MaxProcs = 5000 }},
		{"gc_percent", func(c *pb.Config) { c.GcPercent = 200000 }},
		{"login_timeout_seconds", func(c *pb.Config) { c.LoginTimeoutSeconds = 3601 }},
		{"negotiation.max_burst_length", func(c *pb.Config) { c.Negotiation.MaxBurstLength = 100 }},
		{"negotiation.first_burst_length", func(c *pb.Config) {
			c.Negotiation.FirstBurstLength = 1 << 20
			c.Negotiation.MaxBurstLength = 4096
		}},
		{"negotiation.header_digest", func(c *pb.Config) { c.Negotiation.HeaderDigest = []string{"MD5"} }},
		{"targets", func(c *pb.Config) { c.Targets = nil }},
		{"targets[0].name", func(c *pb.Config) { c.Targets[0].Name = "disk1" }},
		{"targets[1].name", func(c *pb.Config) { c.Targets = append(c.Targets, proto.Clone(c.Targets[0]).(*pb.Target)) }},
		{"targets[0].allowed_initiators[0]", func(c *pb.Config) { c.Targets[0].AllowedInitiators = []string{"bad name"} }},
		{"targets[0].luns", func(c *pb.Config) { c.Targets[0].Luns = nil }},
		{"targets[0].luns[0].block_size", func(c *pb.Config) { c.Targets[0].Luns[0].BlockSize = 1000 }},
		{"targets[0].luns[0].size_bytes", func(c *pb.Config) { c.Targets[0].Luns[0].SizeBytes = 1000 }},
		{"targets[0].luns[0].workers", func(c *pb.Config) { c.Targets[0].Luns[0].Workers = 1000 }},
		{"targets[0].luns[0].io_timeout_ms", func(c *pb.Config) { c.Targets[0].Luns[0].IoTimeoutMs = proto.Uint32(10) }},
		{"targets[0].luns[0].io_timeout_ms", func(c *pb.Config) { c.Targets[0].Luns[0].IoTimeoutMs = proto.Uint32(1 << 31) }},
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
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			cfg := ApplyDefaults(DefaultConfig())
			tc.edit(cfg)
			err := Validate(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"portals":["127.0.0.1:0"],"targets":[{"name":"iqn.2026-11.dev.atgt:t","luns":[{"id":3,"backend":"memory","sizeBytes":"1048576","ioTimeoutMs":0}]}]}`), 0o600)
	cfg, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Targets[0].Luns[0].Id != 3 || cfg.Targets[0].Luns[0].SizeBytes != 1<<20 {
		t.Fatalf("parsed %v", cfg)
	}
	// An explicit 0 disables the timeout; only an absent field takes the default.
	d := ApplyDefaults(cfg)
	if l := d.Targets[0].Luns[0]; l.IoTimeoutMs == nil || *l.IoTimeoutMs != 0 || Validate(d) != nil {
		t.Fatalf("ioTimeoutMs 0 not kept as set: %v (%v)", l.IoTimeoutMs, Validate(d))
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
			t.Errorf("GoMaxProcs(max_procs %d, %d CPUs, env %v) = %d, want %d", tc.maxProcs, tc.available, tc.envSet, got, tc.want)
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
			t.Errorf("GCPercent(gc_percent %d, env %v) = %d, want %d", tc.gcPercent, tc.envSet, got, tc.want)
		}
	}
}
