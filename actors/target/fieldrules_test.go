package target

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// rule is one validation rule broken: the field path its error must lead with and
// the edit of the default config (defaulted) that breaks it.
type rule struct {
	field string
	edit  func(c *pb.Config)
}

// lun0 is the first LUN of the first target.
func lun0(c *pb.Config) *pb.Lun { return c.Targets[0].Luns[0] }

// withLUN adds a copy of the first LUN with another id and path, and returns it.
func withLUN(c *pb.Config) *pb.Lun {
	l := proto.Clone(lun0(c)).(*pb.Lun)
	l.Id, l.Path = uint64(len(c.Targets[0].Luns)), fmt.Sprintf("/l%d", len(c.Targets[0].Luns))
	c.Targets[0].Luns = append(c.Targets[0].Luns, l)
	return l
}

// withFault gives the first LUN one fault.
func withFault(f *pb.Fault) func(c *pb.Config) {
	return func(c *pb.Config) { lun0(c).Faults = []*pb.Fault{f} }
}

// withTarget adds a second target, which has its own LUN.
func withTarget(c *pb.Config) *pb.Target {
	t := proto.Clone(c.Targets[0]).(*pb.Target)
	t.Name, t.Luns[0].Path = "iqn.2026-11.dev.atgt:second", "/second"
	c.Targets = append(c.Targets, t)
	return t
}

// chapOf is a credential with an inline secret of n bytes.
func chapOf(user string, n int, fill string) *pb.Chap {
	return &pb.Chap{User: user, Secret: strings.Repeat(fill, n)}
}

// portGroupsOn gives the first target two port groups, this node's the first.
func portGroupsOn(c *pb.Config) {
	c.Portals = []string{"127.0.0.1:3260"}
	c.Targets[0].PortGroups = []*pb.PortGroup{{Id: 1, Portals: []string{"127.0.0.1:3260"}}, {Id: 2, Portals: []string{"127.0.0.2:3260"}}}
	c.Targets[0].LocalPortGroup = 1
}

// validationRules breaks each rule of validate (config.go, access.go, portgroups.go,
// chap.go, rbd.go, embed.go's badBackends) once.
var validationRules = []rule{
	{"portals[0]", func(c *pb.Config) { c.Portals = []string{"nonsense"} }},
	{"portals[0]", func(c *pb.Config) { c.Portals = []string{"host.example:3260"} }},
	{"traceLevel", func(c *pb.Config) { c.TraceLevel = "loud" }},
	{"queueDepth", func(c *pb.Config) { c.QueueDepth = 1 << 20 }},
	{"maxProcs", func(c *pb.Config) { c.MaxProcs = 5000 }},
	{"readerSpinMicroseconds", func(c *pb.Config) { c.ReaderSpinMicroseconds = proto.Uint32(1001) }},
	{"gcPercent", func(c *pb.Config) { c.GcPercent = 200000 }},
	{"loginTimeoutSeconds", func(c *pb.Config) { c.LoginTimeoutSeconds = 3601 }},
	{"shutdownGraceSeconds", func(c *pb.Config) { c.ShutdownGraceSeconds = 3601 }},
	{"maxConnections", func(c *pb.Config) { c.MaxConnections = 1<<20 + 1 }},
	{"maxConnectionsPerAddress", func(c *pb.Config) { c.MaxConnectionsPerAddress = 1<<20 + 1 }},
	{"writeTimeoutSeconds", func(c *pb.Config) { c.WriteTimeoutSeconds = 3601 }},
	{"maxLoginFailures", func(c *pb.Config) { c.MaxLoginFailures = 1<<20 + 1 }},
	{"loginFailureWindowSeconds", func(c *pb.Config) { c.LoginFailureWindowSeconds = 86401 }},
	{"dataOutTimeoutSeconds", func(c *pb.Config) { c.DataOutTimeoutSeconds = 3601 }},
	{"maxWriteBufferMib", func(c *pb.Config) { c.MaxWriteBufferMib = 1<<20 + 1 }},
	{"maxWriteBufferMib", func(c *pb.Config) { c.MaxWriteBufferMib = 1 }},
	{"maxReadBufferMib", func(c *pb.Config) { c.MaxReadBufferMib = 1<<20 + 1 }},
	{"maxReadBufferMib", func(c *pb.Config) { c.MaxReadBufferMib = 15 }},
	{"traceRingTasks", func(c *pb.Config) { c.TraceRingTasks = 1<<16 + 1 }},
	{"flightRecorderTasks", func(c *pb.Config) { c.FlightRecorderTasks = 1<<16 + 1 }},
	{"traceSinkQueue", func(c *pb.Config) { c.TraceSinkQueue = 1<<20 + 1 }},
	{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "ftp://collector:4318" }},
	{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://" }},
	{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://collector:4318/?x=1" }},
	{"otlpSampleRatio", func(c *pb.Config) { c.OtlpSampleRatio = 2 }},
	{"otlpServiceName", func(c *pb.Config) { c.OtlpServiceName = "a\nb" }},
	{"negotiation.maxRecvDataSegmentLength", func(c *pb.Config) { c.Negotiation.MaxRecvDataSegmentLength = 100 }},
	{"negotiation.maxBurstLength", func(c *pb.Config) { c.Negotiation.MaxBurstLength = 1 << 25 }},
	{"negotiation.firstBurstLength", func(c *pb.Config) { c.Negotiation.FirstBurstLength = 100 }},
	{"negotiation.firstBurstLength", func(c *pb.Config) { c.Negotiation.MaxBurstLength = 4096 }},
	{"negotiation.maxOutstandingR2t", func(c *pb.Config) { c.Negotiation.MaxOutstandingR2T = 70000 }},
	{"negotiation.headerDigest", func(c *pb.Config) { c.Negotiation.HeaderDigest = []string{"MD5"} }},
	{"negotiation.dataDigest", func(c *pb.Config) { c.Negotiation.DataDigest = []string{"MD5"} }},
	{"targets", func(c *pb.Config) { c.Targets = nil }},
	{"targets[0].luns[0].backend", func(c *pb.Config) { lun0(c).Backend = "nbd" }},
	{"targets[0].name", func(c *pb.Config) { c.Targets[0].Name = "disk1" }},
	{"targets[1].name", func(c *pb.Config) { withTarget(c).Name = c.Targets[0].Name }},
	{"targets[0].alias", func(c *pb.Config) { c.Targets[0].Alias = "a\nb" }},
	{"targets[0].allowedInitiators[0]", func(c *pb.Config) { c.Targets[0].AllowedInitiators = []string{"bad name"} }},
	{"targets[0].allowedNetworks[0]", func(c *pb.Config) { c.Targets[0].AllowedNetworks = []string{"10.0.0.0/33"} }},
	{"targets[0].targetReset", func(c *pb.Config) { c.Targets[0].TargetReset = "sometimes" }},
	{"targets[0].luns", func(c *pb.Config) { c.Targets[0].Luns = nil }},
	{"targets[0].luns[0].id", func(c *pb.Config) { lun0(c).Id = 1 << 20 }},
	{"targets[0].luns[1].id", func(c *pb.Config) { withLUN(c).Id = 0 }},
	{"targets[0].luns[0].blockSize", func(c *pb.Config) { lun0(c).BlockSize = 1000 }},
	{"targets[0].luns[0].serial", func(c *pb.Config) { lun0(c).Serial = "disk\t1" }},
	{"targets[0].luns[0].serial", func(c *pb.Config) { lun0(c).Serial = strings.Repeat("s", 245) }},
	{"targets[0].luns[0].sizeBytes", func(c *pb.Config) { lun0(c).SizeBytes = math.MaxInt64 + 1 }},
	{"targets[0].luns[0].sizeBytes", func(c *pb.Config) { lun0(c).SizeBytes = 1000 }},
	{"targets[0].luns[0].workers", func(c *pb.Config) { lun0(c).Workers = 1000 }},
	{"targets[0].luns[0].ioPolicy", func(c *pb.Config) { lun0(c).IoPolicy = "fast" }},
	{"targets[0].luns[0].workers", func(c *pb.Config) { lun0(c).IoPolicy, lun0(c).Workers = "single", 4 }},
	{"targets[0].luns[0].directIo", func(c *pb.Config) { lun0(c).DirectIo = true }},
	{"targets[0].luns[0].ioTimeout", func(c *pb.Config) { lun0(c).IoTimeout = proto.Float64(0.01) }},
	{"targets[0].luns[0].path", func(c *pb.Config) { lun0(c).Path = "" }},
	{"targets[0].luns[1].path", func(c *pb.Config) { withLUN(c).Path = lun0(c).Path }},
	{"targets[0].luns[0].sizeBytes", func(c *pb.Config) { lun0(c).Backend, lun0(c).SizeBytes = "memory", 0 }},
	{"targets[0].luns[0].rbd", func(c *pb.Config) { lun0(c).Rbd = &pb.Rbd{Image: "vm1"} }},
	{"targets[0].luns[0].faults[0].op", withFault(&pb.Fault{Op: "trim", Kind: "error"})},
	{"targets[0].luns[0].faults[0].kind", withFault(&pb.Fault{Kind: "explode"})},
	{"targets[0].luns[0].faults[0].probability", withFault(&pb.Fault{Kind: "error", Probability: proto.Float64(2)})},
	{"targets[0].luns[0].faults[0].delayMs", withFault(&pb.Fault{Kind: "delay"})},
	{"targets[0].luns[0].faults[0].delayMs", withFault(&pb.Fault{Kind: "error", DelayMs: 5})},
	{"targets[0].luns[0].faults[0].offset", withFault(&pb.Fault{Op: "sync", Kind: "error", Offset: 512})},
	{"targets[0].luns[0].faults[0].length", withFault(&pb.Fault{Op: "sync", Kind: "error", Length: 512})},
	{"targets[0].luns[0].faults[0].offset", withFault(&pb.Fault{Kind: "error", Offset: math.MaxInt64 + 1})},
	{"targets[0].luns[0].faults[0].length", withFault(&pb.Fault{Kind: "error", Offset: 1, Length: math.MaxInt64})},
	{"targets[0].initiatorLuns[0].initiator", func(c *pb.Config) {
		c.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "bad name", Luns: c.Targets[0].Luns}}
	}},
	{"targets[0].initiatorLuns[1].initiator", func(c *pb.Config) {
		a := &pb.Lun{Backend: "memory", SizeBytes: 1 << 20, BlockSize: 512, Workers: 1}
		c.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.atgt:a", Luns: []*pb.Lun{a}},
			{Initiator: "iqn.2026-11.dev.atgt:a", Luns: []*pb.Lun{a}}}
	}},
	{"targets[0].initiatorLuns[0].initiator", func(c *pb.Config) {
		c.Targets[0].AllowedInitiators = []string{"iqn.2026-11.dev.atgt:a"}
		c.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.atgt:b"}}
	}},
	{"targets[0].initiatorLuns[0].luns", func(c *pb.Config) {
		c.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.atgt:a"}}
	}},
	{"targets[0].initiatorLuns[0].luns[0].blockSize", func(c *pb.Config) {
		l := &pb.Lun{Backend: "memory", SizeBytes: 1 << 20, BlockSize: 1000, Workers: 1}
		c.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.atgt:a", Luns: []*pb.Lun{l}}}
	}},
	{"targets[0].aluaHoldSeconds", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].AluaHoldSeconds = proto.Uint32(0) }},
	{"targets[0].localPortGroup", func(c *pb.Config) { c.Targets[0].LocalPortGroup = 1 }},
	{"targets[0].aluaHoldSeconds", func(c *pb.Config) { c.Targets[0].AluaHoldSeconds = proto.Uint32(5) }},
	{"targets[0].portGroups[1].id", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].PortGroups[1].Id = 0 }},
	{"targets[0].portGroups[1].id", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].PortGroups[1].Id = 1 }},
	{"targets[0].portGroups[1].portals", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].PortGroups[1].Portals = nil }},
	{"targets[0].portGroups[1].portals[0]", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].PortGroups[1].Portals = []string{"0.0.0.0:3260"} }},
	{"targets[0].localPortGroup", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].LocalPortGroup = 3 }},
	{"targets[0].localPortGroup", func(c *pb.Config) { portGroupsOn(c); c.Targets[0].LocalPortGroup = 2 }},
	{"targets[0].allowUnauthenticated", func(c *pb.Config) { c.Portals = []string{"0.0.0.0:3260"} }},
	{"chapAlgorithms[0]", func(c *pb.Config) { c.ChapAlgorithms = []string{"MD4"} }},
	{"chapAlgorithms[1]", func(c *pb.Config) { c.ChapAlgorithms = []string{"MD5", "MD5"} }},
	{"targets[0].chapAlgorithms", func(c *pb.Config) { c.Targets[0].ChapAlgorithms = []string{"MD5"} }},
	{"targets[0].chapAlgorithms[0]", func(c *pb.Config) {
		c.Targets[0].Chap, c.Targets[0].ChapAlgorithms = chapOf("u", 12, "a"), []string{"MD4"}
	}},
	{"discoveryMutualChap", func(c *pb.Config) { c.DiscoveryMutualChap = chapOf("t", 12, "b") }},
	{"targets[0].mutualChap", func(c *pb.Config) { c.Targets[0].MutualChap = chapOf("t", 12, "b") }},
	{"targets[0].chap.user", func(c *pb.Config) { c.Targets[0].Chap = chapOf("", 12, "a") }},
	{"targets[0].chap.user", func(c *pb.Config) { c.Targets[0].Chap = chapOf(strings.Repeat("u", 256), 12, "a") }},
	{"targets[0].chap.user", func(c *pb.Config) { c.Targets[0].Chap = chapOf("u\x01", 12, "a") }},
	{"targets[0].chap.secret", func(c *pb.Config) { c.Targets[0].Chap = &pb.Chap{User: "u", Secret: "abcdefghijkl", SecretFile: "/s"} }},
	{"targets[0].chap.secret", func(c *pb.Config) { c.Targets[0].Chap = &pb.Chap{User: "u"} }},
	{"discoveryChap.secret", func(c *pb.Config) { c.DiscoveryChap = chapOf("u", 11, "a") }},
	{"targets[0].chap.secret", func(c *pb.Config) { c.Targets[0].Chap = chapOf("u", 1025, "a") }},
	{"targets[0].mutualChap.secret", func(c *pb.Config) {
		c.Targets[0].Chap, c.Targets[0].MutualChap = chapOf("u", 12, "a"), chapOf("t", 12, "a")
	}},
	{"targets[0].mutualChap.secret", func(c *pb.Config) {
		withTarget(c).Chap = chapOf("v", 12, "b") // the second target's initiators know target 0's own secret
		c.Targets[0].Chap, c.Targets[0].MutualChap = chapOf("u", 12, "a"), chapOf("t", 12, "b")
	}},
}

// rbdRules break the rules of an rbd LUN (rbd.go) in a binary that can open one.
var rbdRules = []rule{
	{"targets[0].luns[0].rbd.image", func(c *pb.Config) { lun0(c).Rbd.Image = "" }},
	{"targets[0].luns[0].sizeBytes", func(c *pb.Config) { lun0(c).SizeBytes = 1 << 20 }},
	{"targets[0].luns[0].path", func(c *pb.Config) { lun0(c).Path = "/x" }},
	{"targets[0].luns[0].directIo", func(c *pb.Config) { lun0(c).DirectIo, lun0(c).IoPolicy = true, "direct" }},
	{"targets[0].luns[1].rbd.image", func(c *pb.Config) {
		l := withLUN(c)
		l.Path = ""
	}},
}

// rbdBase is the default config with its LUN an rbd one, defaulted.
func rbdBase() *pb.Config {
	c := DefaultConfig()
	c.Targets[0].Luns[0] = &pb.Lun{Backend: "rbd", Rbd: &pb.Rbd{Image: "vm1"}}
	return c
}

// TestValidationRulesNameJSONFields breaks every validation rule once: each error
// leads with its field's JSON path ("config: targets[0].luns[0].sizeBytes: ") and
// names no field by its .proto name.
func TestValidationRulesNameJSONFields(t *testing.T) {
	check := func(t *testing.T, base func() *pb.Config, rules []rule) {
		for i, r := range rules {
			t.Run(fmt.Sprintf("%d_%s", i, r.field), func(t *testing.T) {
				cfg := ApplyDefaults(base())
				if err := Validate(cfg); err != nil {
					t.Fatalf("the base config is refused: %v", err)
				}
				r.edit(cfg)
				err := Validate(cfg)
				if err == nil || !strings.HasPrefix(err.Error(), "config: "+r.field+": ") {
					t.Fatalf("err = %v, want one leading with config: %s: ", err, r.field)
				}
				checkJSONNames(t, err.Error())
			})
		}
	}
	check(t, DefaultConfig, validationRules)
	if openRBD == nil { // a binary without the ceph tag: the rules behind it, with a stand-in
		err := Validate(ApplyDefaults(rbdBase()))
		if err == nil || !strings.HasPrefix(err.Error(), "config: targets[0].luns[0].backend: ") {
			t.Fatalf("rbd without the ceph tag: %v", err)
		}
		openRBD = func(*pb.Lun, bool, func(string)) (backend.Backend, error) { return nil, errors.New("no ceph") }
		defer func() { openRBD = nil }()
	}
	check(t, rbdBase, rbdRules)
}

// TestSecretFileErrorsNameJSONFields: the errors of reading secret files, and of a
// world-readable config holding a secret, name fields by their JSON names; a
// missing file is still fs.ErrNotExist.
func TestSecretFileErrorsNameJSONFields(t *testing.T) {
	dir := t.TempDir()
	short, open, same := filepath.Join(dir, "short"), filepath.Join(dir, "open"), filepath.Join(dir, "same")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	os.WriteFile(open, []byte("abcdefghijklmn\n"), 0o644)
	os.WriteFile(same, []byte("abcdefghijklmn\n"), 0o600)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		edit func(c *pb.Config)
		want string
	}{
		{func(c *pb.Config) { c.Targets[0].Chap = &pb.Chap{User: "u", SecretFile: missing} },
			"config: targets[0].chap.secretFile: open " + missing + ": no such file or directory"},
		{func(c *pb.Config) { c.DiscoveryChap = &pb.Chap{User: "u", SecretFile: short} },
			"config: discoveryChap.secretFile: the secret in " + short + " is shorter than 12 bytes"},
		{func(c *pb.Config) { c.Targets[0].Chap = &pb.Chap{User: "u", SecretFile: open} },
			"config: targets[0].chap.secretFile: " + open + " holds a CHAP secret and is readable by every user"},
		{func(c *pb.Config) {
			c.Targets[0].Chap = &pb.Chap{User: "u", SecretFile: same}
			c.Targets[0].MutualChap = &pb.Chap{User: "t", Secret: "abcdefghijklmn"}
		}, "config: targets[0].mutualChap.secret: equals targets[0].chap.secret: "},
	} {
		cfg := ApplyDefaults(DefaultConfig())
		tc.edit(cfg)
		if err := Validate(cfg); err != nil {
			t.Fatalf("%s: refused before the files are read: %v", tc.want, err)
		}
		err := loadSecrets(cfg, "")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Fatalf("err = %v, want %s...", err, tc.want)
		}
		checkJSONNames(t, err.Error())
		if strings.Contains(tc.want, missing) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: not fs.ErrNotExist", err)
		}
	}
	path := filepath.Join(dir, "atgt.json")
	os.WriteFile(path, []byte(`{"targets":[{"name":"iqn.2026-11.dev.atgt:t","chap":{"user":"u","secret":"abcdefghijklmn"}}]}`), 0o644)
	if _, err := LoadConfig(path); err == nil || !strings.HasSuffix(err.Error(), "or move the secrets to secretFile") {
		t.Fatalf("world-readable config with a secret: %v", err)
	}
	os.WriteFile(path, []byte(`{"targets":[{"luns":[{"sizeBytes":"big"}]}]}`), 0o600)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), `invalid value for uint64 field sizeBytes: "big"`) {
		t.Fatalf("a value protojson cannot parse: %v", err)
	}
	if _, err := LoadConfig(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing config: %v, want fs.ErrNotExist", err)
	}
}

// TestRepresentativeErrorTexts pins the whole text of a few errors and change lines,
// as an administrator reads them, and the admin API code of a refused change.
func TestRepresentativeErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		edit func(c *pb.Config)
		want string
	}{
		{func(c *pb.Config) { withLUN(c); withLUN(c).SizeBytes = 1000 },
			"config: targets[0].luns[2].sizeBytes: 1000 is not a multiple of blockSize 512"},
		{func(c *pb.Config) { lun0(c).Faults = []*pb.Fault{{Kind: "error"}, {Op: "read", Kind: "delay"}} },
			"config: targets[0].luns[0].faults[1].delayMs: a delay fault needs a delay"},
		{func(c *pb.Config) { c.Negotiation.FirstBurstLength, c.Negotiation.MaxBurstLength = 1<<20, 4096 },
			"config: negotiation.firstBurstLength: 1048576 exceeds maxBurstLength 4096"},
		{func(c *pb.Config) { lun0(c).DirectIo = true },
			`config: targets[0].luns[0].directIo: true with ioPolicy "threaded", which uses the page cache: use ioPolicy "direct"`},
		{func(c *pb.Config) {
			c.Targets[0].AllowedInitiators = []string{"iqn.2026-11.dev.atgt:a"}
			c.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.atgt:b"}}
		}, `config: targets[0].initiatorLuns[0].initiator: "iqn.2026-11.dev.atgt:b" is not in allowedInitiators, so it could never log in`},
		{func(c *pb.Config) {
			withTarget(c)
			c.Targets[1].Chap, c.Targets[1].MutualChap = chapOf("u", 12, "a"), chapOf("t", 12, "a")
		}, "config: targets[1].mutualChap.secret: equals targets[1].chap.secret: the target's and the initiator's secrets must differ"},
		{func(c *pb.Config) { c.DiscoveryMutualChap = chapOf("t", 12, "b") },
			"config: discoveryMutualChap: mutual CHAP needs discoveryChap (the initiator proves itself first)"},
	} {
		cfg := ApplyDefaults(DefaultConfig())
		tc.edit(cfg)
		if err := Validate(cfg); err == nil || err.Error() != tc.want {
			t.Errorf("err = %v\nwant   %s", err, tc.want)
		}
	}

	// Changes through the admin API: the refusal keeps its code, the line names the field.
	old := diffBase()
	next := proto.Clone(old).(*pb.Config)
	lun0(next).Rbd.CephConf = "/etc/ceph/other.conf"
	_, err := (&Service{}).diff(old, next, applyOpts{})
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition ||
		ce.Message() != "config: targets[0].luns[0].rbd.cephConf: changing it needs the LUN removed and added again, or a restart (nothing was applied)" {
		t.Errorf("rbd.cephConf changed: %v", err)
	}
	next = proto.Clone(old).(*pb.Config)
	next.Targets[0].AllowedNetworks = []string{"10.0.0.0/8"}
	next.Targets[0].Chap.SecretFile = "/other"
	p, err := (&Service{}).diff(old, next, applyOpts{})
	if err != nil || len(p.changes) != 1 || p.changes[0] != "update target "+DefaultTargetName+" (chap.secretFile)" {
		t.Errorf("chap.secretFile and allowedNetworks changed: %v %q", err, p.changes)
	}
}
