package inprocess

import (
	"context"
	"sync"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestLUNsSnapshot: Service.LUNs returns a copy taken under the admin lock that
// AddLun and RemoveLun hold while they change the list: a list read before a
// RemoveLun keeps the removed LUN, and reading while LUNs come and go is no race
// (go test -race).
func TestLUNsSnapshot(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				for _, l := range svc.LUNs() {
					_ = l.Size
				}
			}
		}
	}()
	for i := 0; i < 20; i++ {
		if _, err := svc.AddLun(context.Background(), &pb.AddLunRequest{Target: targetName,
			Lun: &pb.Lun{Id: 5, Backend: "memory", SizeBytes: 1 << 20}}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: targetName, Id: 5}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if _, err := svc.AddLun(context.Background(), &pb.AddLunRequest{Target: targetName,
		Lun: &pb.Lun{Id: 5, Backend: "memory", SizeBytes: 1 << 20}}); err != nil {
		t.Fatal(err)
	}
	before := svc.LUNs()
	if _, err := svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: targetName, Id: 5}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range before {
		found = found || l.ID == 5
	}
	if !found {
		t.Errorf("a list of LUNs taken before RemoveLun lost LUN 5 (it aliases the service's own): %+v", before)
	}
	for _, l := range svc.LUNs() {
		if l.ID == 5 {
			t.Errorf("LUN 5 still listed after RemoveLun")
		}
	}
}
