package target

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// aptplState is a saved reservation state (APTPL) for the default target.
func aptplState() []byte {
	return []byte(fmt.Sprintf(`{"format":"atgt-persistent-reservations","version":1,"seq":7,"aptpl":true,"generation":3,`+
		`"registrations":[{"nexus":"iqn.2026-11.dev.host:a,i,0x023d00000001,%s,t,0x0001","key":17,"relativeTargetPort":1}],`+
		`"reservation":{"holder":"iqn.2026-11.dev.host:a,i,0x023d00000001,%s,t,0x0001","type":5}}`+"\n", DefaultTargetName, DefaultTargetName))
}

// twoLunConfig writes a config of the default target with LUNs 0 and 1 to dir and
// saved reservations for LUN 1; it returns the config file and the state file.
func twoLunConfig(t *testing.T, dir string) (path, prFile string, cfg *pb.Config) {
	t.Helper()
	path = filepath.Join(dir, "atgt.json")
	cfg = &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{
			{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20}, {Id: 1, Path: "lun1.img", SizeBytes: 1 << 20}}}},
	}
	b, _ := protojson.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	prFile = filepath.Join(dir, stateFileName(stateBase(DefaultTargetName, ""), 1))
	if err := os.WriteFile(prFile, aptplState(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, prFile, cfg
}

// dirNames lists dir, for failure messages.
func dirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestRemovedLunStateKeptWhenSaveFails: `lun rm` sets the LUN's saved reservations
// (*.pr.json) aside only once the config file no longer lists it. When the write
// fails (here: atgt.json.4 cannot be moved over the non-empty directory atgt.json.5;
// a full or read-only filesystem does the same) the call fails "applied, but the
// config file was not written", the file still lists the LUN, and the next start
// must serve it with its APTPL reservation.
func TestRemovedLunStateKeptWhenSaveFails(t *testing.T) {
	dir := t.TempDir()
	path, prFile, cfg := twoLunConfig(t, dir)
	b, _ := protojson.Marshal(cfg)
	if err := os.MkdirAll(filepath.Join(dir, "atgt.json.5", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "atgt.json.4"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := StartWith(loaded, hclog.NewNullLogger(), Options{ConfigPath: path})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	_, err = svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: DefaultTargetName, Id: 1, Force: true})
	if err == nil || !strings.Contains(err.Error(), "not written") {
		t.Fatalf("RemoveLun: %v; want the failed save reported", err)
	}
	svc.Stop(10 * time.Second)
	again, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Targets[0].Luns); n != 2 {
		t.Fatalf("config file lists %d LUNs", n)
	}
	if _, err := os.Stat(prFile); err != nil {
		t.Fatalf("the next start serves lun 1 (the config file still has it) but its saved reservations are gone: %v; files: %v", err, dirNames(dir))
	}
}

// TestRemovedLunStateSetAsideAfterSave: once the config is saved without the LUN,
// its state files are set aside and the journal is gone.
func TestRemovedLunStateSetAsideAfterSave(t *testing.T) {
	dir := t.TempDir()
	path, prFile, _ := twoLunConfig(t, dir)
	loaded, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := StartWith(loaded, hclog.NewNullLogger(), Options{ConfigPath: path})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer svc.Stop(10 * time.Second)
	if _, err := svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: DefaultTargetName, Id: 1, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(prFile); err == nil {
		t.Fatalf("the removed LUN's reservations are still loaded by a LUN added with its id: %v", dirNames(dir))
	}
	if _, err := os.Stat(filepath.Join(dir, "removed-luns.pending.json")); err == nil {
		t.Fatalf("the journal outlives the change: %v", dirNames(dir))
	}
}

// TestRemovedLunStateAfterCrash: a crash after the config was saved without LUN 1
// but before its state files were set aside leaves the journal; the next start sets
// them aside, and keeps those of a journaled LUN the config still lists (the crash
// came before the save).
func TestRemovedLunStateAfterCrash(t *testing.T) {
	dir := t.TempDir()
	path, prFile, cfg := twoLunConfig(t, dir)
	kept := filepath.Join(dir, stateFileName(stateBase(DefaultTargetName, ""), 0))
	if err := os.WriteFile(kept, aptplState(), 0o600); err != nil {
		t.Fatal(err)
	}
	base := stateBase(DefaultTargetName, "")
	journal := fmt.Sprintf(`[{"base":%q,"lun":0},{"base":%q,"lun":1}]`, base, base)
	if err := os.WriteFile(filepath.Join(dir, "removed-luns.pending.json"), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Targets[0].Luns = cfg.Targets[0].Luns[:1] // saved without LUN 1
	b, _ := protojson.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := StartWith(loaded, hclog.NewNullLogger(), Options{ConfigPath: path})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer svc.Stop(10 * time.Second)
	if _, err := os.Stat(prFile); err == nil {
		t.Fatalf("removed LUN 1's reservations were not set aside after the crash: %v", dirNames(dir))
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("LUN 0 (still configured) lost its reservations: %v; %v", err, dirNames(dir))
	}
	if _, err := os.Stat(filepath.Join(dir, "removed-luns.pending.json")); err == nil {
		t.Fatalf("the journal outlives the start: %v", dirNames(dir))
	}
}
