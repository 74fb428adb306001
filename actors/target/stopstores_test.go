package target

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestUnsavedRemovalKeepsStoreRecorded: `lun rm` whose config file cannot be
// written leaves the LUN in the file (README: "the next start serves the LUN with
// its reservations"), so served-stores.json must still list its store. If that
// store is missing at the next start (a filesystem not mounted) the LUN is served
// NOT READY, never created blank with the LUN's old NAA, serial and APTPL
// reservations (an initiator would format the blank disk). Once a save succeeds the
// removed store leaves the record.
func TestUnsavedRemovalKeepsStoreRecorded(t *testing.T) {
	dir := t.TempDir()
	store := dir + "/mnt/lun1.img"
	if err := os.MkdirAll(dir+"/mnt", 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{
			{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20},
			{Id: 1, Path: store, SizeBytes: 1 << 20},
		}}},
	}
	// A config path whose directory does not exist: every save fails.
	opts := Options{ConfigPath: dir + "/no-such-dir/atgt.json"}
	svc, err := StartWith(proto.Clone(cfg).(*pb.Config), hclog.NewNullLogger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: DefaultTargetName, Id: 1, Force: true})
	if err == nil {
		t.Fatal("RemoveLun with an unwritable config file succeeded; want the save's error")
	}
	if err := svc.Shutdown(0); err != nil {
		t.Fatal(err)
	}
	// The filesystem of LUN 1 is not mounted at the next start.
	if err := os.Remove(store); err != nil {
		t.Fatal(err)
	}
	svc2, err := StartWith(proto.Clone(cfg).(*pb.Config), hclog.NewNullLogger(), opts)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	defer svc2.Stop(10 * time.Second)
	if _, err := os.Stat(store); err == nil {
		t.Fatalf("the missing store %s of a LUN the config still lists was created blank at the restart "+
			"(served-stores.json forgot it when the unsaved removal ran)", store)
	}
	if l := lunInfo(t, svc2, 1); l == nil || l.State != lunMissing {
		t.Fatalf("LUN 1 at the restart: %+v; want served missing (NOT READY)", l)
	}

	// A save that succeeds (the config directory is there now) forgets the store of
	// the LUN it removes.
	if err := os.MkdirAll(filepath.Dir(opts.ConfigPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := svc2.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: DefaultTargetName, Id: 1, Force: true}); err != nil {
		t.Fatalf("RemoveLun with a writable config file: %v", err)
	}
	rec, err := loadServedStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec[store] {
		t.Errorf("%s still records %s after a saved removal", storesFileName, store)
	}
	if !rec[absStore(filepath.Join(dir, "lun0.img"))] {
		t.Errorf("%s lost LUN 0's store: %v", storesFileName, rec)
	}
}
