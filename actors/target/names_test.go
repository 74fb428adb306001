package target

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Target names follow RFC 3720's iqn./eui./naa. forms, and an alias is a text
// value without control characters: before, an alias with a NUL added keys of the
// config author's choosing to every first Login Response, and names with '/' or
// upper case were accepted ('/' let two logical units get one NAA identifier).
func TestTargetNameAndAliasValidation(t *testing.T) {
	cfgWith := func(edit func(*pb.Target)) *pb.Config {
		cfg := ApplyDefaults(DefaultConfig())
		edit(cfg.Targets[0])
		return cfg
	}
	for _, tc := range []struct {
		name string
		edit func(*pb.Target)
		want string // "" = valid
	}{
		{"alias with NUL", func(t *pb.Target) { t.Alias = "disk\x00TargetPortalGroupTag=77\x00MaxRecvDataSegmentLength=512" },
			"targets[0].alias: contains a control character"},
		{"alias with newline", func(t *pb.Target) { t.Alias = "a\nb" }, "targets[0].alias: contains a control character"},
		{"long alias", func(t *pb.Target) { t.Alias = strings.Repeat("a", 256) }, "targets[0].alias: longer than 255 bytes"},
		{"alias not UTF-8", func(t *pb.Target) { t.Alias = "a\xffb" }, "targets[0].alias: not UTF-8"},
		{"unicode alias", func(t *pb.Target) { t.Alias = "Datenträger 1" }, ""},
		{"upper case", func(t *pb.Target) { t.Name = "iqn.2026-11.dev.atgt:VM1" }, `write "iqn.2026-11.dev.atgt:vm1"`},
		{"upper case domain", func(t *pb.Target) { t.Name = "iqn.2026-11.Dev.atgt:vm1" }, "upper case"},
		{"slash", func(t *pb.Target) { t.Name = "iqn.2026-11.dev.atgt:a/iqn.b" }, "contains '/'"},
		{"underscore", func(t *pb.Target) { t.Name = "iqn.2026-11.dev.atgt:a_b" }, "contains '_'"},
		{"no date", func(t *pb.Target) { t.Name = "iqn.atgt.dev:a" }, "iqn.yyyy-mm"},
		{"month 13", func(t *pb.Target) { t.Name = "iqn.2026-13.dev.atgt:a" }, "iqn.yyyy-mm"},
		{"empty label", func(t *pb.Target) { t.Name = "iqn.2026-11.dev..atgt:a" }, "empty label"},
		{"eui short", func(t *pb.Target) { t.Name = "eui.0123" }, "16 hex digits"},
		{"eui", func(t *pb.Target) { t.Name = "eui.02004567A425678D" }, ""},
		{"naa 32", func(t *pb.Target) { t.Name = "naa.52004567ba64678d52004567ba64678d" }, ""},
		{"naa not hex", func(t *pb.Target) { t.Name = "naa.52004567ba64678z" }, "hex digits"},
		{"iqn without suffix", func(t *pb.Target) { t.Name = "iqn.2026-11.dev.atgt" }, ""},
		{"unicode suffix", func(t *pb.Target) { t.Name = "iqn.2026-11.dev.atgt:datenträger" }, ""},
	} {
		err := Validate(cfgWith(tc.edit))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	// eui. and naa. hex digits compare in either case: one name twice is refused.
	cfg := ApplyDefaults(DefaultConfig())
	second := &pb.Target{Name: "eui.02004567a425678d", Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}
	cfg.Targets[0].Name = "eui.02004567A425678D"
	cfg.Targets = append(cfg.Targets, second)
	if err := Validate(ApplyDefaults(cfg)); err == nil || !strings.Contains(err.Error(), "targets[1].name") {
		t.Errorf("one eui. name in two cases: %v", err)
	}
}

// State file names are injective: before, target "...:vms" with an initiator's own
// LUN 0 and a target named "...:vms--<initiator>" both persisted LUN 0 to one file.
func TestStateFileNamesInjective(t *testing.T) {
	a, ini, b := "iqn.2026-11.dev.atgt:vms", "iqn.2026-11.dev.host:vm1", "iqn.2026-11.dev.atgt:vms--iqn.2026-11.dev.host:vm1"
	cfg := ApplyDefaults(&pb.Config{Targets: []*pb.Target{
		{Name: a, AllowedInitiators: []string{ini}, Luns: []*pb.Lun{{Id: 0, Path: "shared.img"}},
			InitiatorLuns: []*pb.InitiatorLuns{{Initiator: ini, Luns: []*pb.Lun{{Id: 0, Path: "vm1.img"}}}}},
		{Name: b, Luns: []*pb.Lun{{Id: 0, Path: "b.img"}}},
	}})
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	own := (&targetLUNs{name: a, initiator: ini}).stateBase()
	if stateFileName(own, 0) == stateFileName(stateBase(b, ""), 0) {
		t.Fatalf("%s's own LUN 0 and %s's LUN 0 both persist to %s", ini, b, stateFileName(own, 0))
	}
	// Pairs that met under the old naming, or could under a careless escape, differ.
	seen := map[string][2]string{}
	for _, p := range [][2]string{
		{a, ini}, {b, ""}, {"iqn.2026-11.dev.atgt:x_y", ""}, {"iqn.2026-11.dev.atgt:x:y", ""},
		{"iqn.2026-11.dev.atgt:x", "iqn.y+z"}, {"iqn.2026-11.dev.atgt:x+iqn.y", "z"}, {"iqn.2026-11.dev.atgt:x_2b", ""},
		{"iqn.2026-11.dev.atgt:x", "iqn.y_3az"}, {"iqn.2026-11.dev.atgt:x", "iqn.y:z"},
		{"iqn.2026-11.dev.atgt:" + strings.Repeat("l", 200), ""}, {"iqn.2026-11.dev.atgt:" + strings.Repeat("l", 201), ""},
		{"iqn.2026-11.dev.atgt:" + strings.Repeat(":", 200), "iqn." + strings.Repeat("x", 219)},
	} {
		base := stateBase(p[0], p[1])
		if other, dup := seen[base]; dup {
			t.Errorf("%v and %v share the state base %s", p, other, base)
		}
		seen[base] = p
		if n := len(modesFileName(base, 1<<63)); n > 255 {
			t.Errorf("%v: a state file name of %d bytes", p, n)
		}
		if strings.ContainsRune(base, '/') {
			t.Errorf("%v: base %q is not one path element", p, base)
		}
	}
}

// A state file of the old naming is renamed to the new one when its LUN opens,
// unless two LUN sets of the config had that old name (nobody can tell whose it
// is): then it stays and is not read.
func TestLegacyStateFileAdopted(t *testing.T) {
	dir := t.TempDir()
	const name = "iqn.2026-11.dev.atgt:legacy"
	legacy := filepath.Join(dir, modesFileName(legacyStateBase(name, ""), 0))
	cur := filepath.Join(dir, modesFileName(stateBase(name, ""), 0))
	if legacy == cur {
		t.Fatal("the test needs a name whose naming changed")
	}
	// Not valid saved mode pages: reading it fails the start, naming the file read.
	if err := os.WriteFile(legacy, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir, Targets: []*pb.Target{
		{Name: name, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}}}
	svc, err := Start(cfg, hclog.NewNullLogger())
	if err == nil {
		svc.Stop(10 * time.Second)
		t.Fatal("the legacy state file was not read")
	}
	if !strings.Contains(err.Error(), cur) {
		t.Fatalf("start: %v, want the renamed file %s read", err, cur)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Fatalf("legacy file still there: %v", err)
	}

	// Two sets that shared the old name: the file stays and neither reads it.
	dir = t.TempDir()
	a, ini, b := "iqn.2026-11.dev.atgt:vms", "iqn.2026-11.dev.host:vm1", "iqn.2026-11.dev.atgt:vms--iqn.2026-11.dev.host:vm1"
	legacy = filepath.Join(dir, modesFileName(legacyStateBase(b, ""), 0))
	if legacyStateBase(b, "") != legacyStateBase(a, ini) {
		t.Fatal("the test needs two sets with one legacy name")
	}
	if err := os.WriteFile(legacy, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	mem := func(id uint64) []*pb.Lun { return []*pb.Lun{{Id: id, Backend: "memory", SizeBytes: 1 << 20}} }
	cfg = &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir, Targets: []*pb.Target{
		{Name: a, Luns: mem(0), InitiatorLuns: []*pb.InitiatorLuns{{Initiator: ini, Luns: mem(0)}}},
		{Name: b, Luns: mem(0)}}}
	svc, err = Start(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("a shared legacy file was read: %v", err)
	}
	svc.Stop(10 * time.Second)
	if _, err := os.Stat(legacy); err != nil {
		t.Fatalf("the shared legacy file was moved: %v", err)
	}
}
