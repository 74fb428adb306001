package admin_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/admin/admintest"
	"github.com/atgt/atgt/actors/logging"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestActorAnswers: the actor answers a Call through a future (no ReplyTo) and
// through ReplyTo, with the method's response or its error; a query is answered
// while a slow change (a logout waiting out its grace) is in progress, and changes
// are applied in the order they were sent.
func TestActorAnswers(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(hclog.NewNullLogger())
	}))
	defer sys.Shutdown()
	cfg, sessions := admintest.Sample()
	fake := admintest.New(cfg, sessions)
	fake.LogoutDelay = 300 * time.Millisecond
	pid := sys.Root.Spawn(admin.Props(fake))

	// A future: ReplyTo nil answers the sender.
	res, err := sys.Root.RequestFuture(pid, &admin.Call{Request: &pb.ListLunsRequest{Target: "iqn.2026-11.dev.atgt:vm2"}}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	r := res.(*admin.Result)
	if luns, ok := r.Response.(*pb.ListLunsResponse); r.Err != nil || !ok || len(luns.Luns) != 1 || luns.Luns[0].Initiator != "iqn.2026-11.dev.host:vm2" {
		t.Fatalf("ListLuns via a future = %+v, want vm2's one LUN", r)
	}

	// ReplyTo: a probe actor collects the Results in arrival order.
	results := make(chan *admin.Result, 16)
	probe := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if r, ok := ctx.Message().(*admin.Result); ok {
			results <- r
		}
	}))
	send := func(id uint64, req proto.Message) {
		sys.Root.Send(pid, &admin.Call{ID: id, ReplyTo: probe, Request: req})
	}
	vm1 := "iqn.2026-11.dev.atgt:vm1"
	send(1, &pb.LogoutSessionRequest{Tsih: 1})                                                   // slow change
	send(2, &pb.AddLunRequest{Target: vm1, Lun: &pb.Lun{Id: 7, Path: "7.img", SizeBytes: 4096}}) // queued behind it
	send(3, &pb.ResizeLunRequest{Target: vm1, Id: 7, SizeBytes: 8192})                           // needs 2 first
	send(4, &pb.StatusRequest{})                                                                 // a query: not queued
	send(5, &pb.RemoveLunRequest{Target: vm1, Id: 99})                                           // an error

	got := map[uint64]*admin.Result{}
	var order []uint64
	for len(got) < 5 {
		select {
		case r := <-results:
			got[r.ID] = r
			order = append(order, r.ID)
		case <-time.After(5 * time.Second):
			t.Fatalf("answers so far %v, want 5", order)
		}
	}
	if order[0] != 4 {
		t.Errorf("answer order %v: the Status query should not wait behind the logout", order)
	}
	if pos := func(id uint64) int {
		for i, o := range order {
			if o == id {
				return i
			}
		}
		return -1
	}; !(pos(1) < pos(2) && pos(2) < pos(3) && pos(3) < pos(5)) {
		t.Errorf("answer order %v: changes should be answered in the order sent", order)
	}
	if st, ok := got[4].Response.(*pb.StatusResponse); !ok || st.Targets != 2 {
		t.Errorf("Status = %+v", got[4])
	}
	if rs, ok := got[3].Response.(*pb.ResizeLunResponse); got[3].Err != nil || !ok || rs.OldSizeBytes != 4096 || rs.SizeBytes != 8192 {
		t.Errorf("ResizeLun after AddLun = %+v, want 4096 -> 8192", got[3])
	}
	if _, ok := got[1].Response.(*pb.LogoutSessionResponse); !ok || got[1].Err != nil {
		t.Errorf("LogoutSession = %+v", got[1])
	}
	if connect.CodeOf(got[5].Err) != connect.CodeNotFound || got[5].Response != nil {
		t.Errorf("RemoveLun of a missing LUN = %+v, want not_found and no response", got[5])
	}

	// Not a request of the service: answered with invalid_argument.
	res, err = sys.Root.RequestFuture(pid, &admin.Call{Request: &pb.Lun{}}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(*admin.Result); connect.CodeOf(r.Err) != connect.CodeInvalidArgument || !strings.Contains(r.Err.Error(), "not an admin request") {
		t.Fatalf("a Lun as request: %+v, want invalid_argument", r)
	}
}

// TestActorStopAnswersAll: stopping the actor cancels the change in progress and
// answers the queued ones, so no caller waits for ever.
func TestActorStopAnswersAll(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(hclog.NewNullLogger())
	}))
	defer sys.Shutdown()
	fake := admintest.New(admintest.Sample())
	fake.LogoutDelay = time.Hour
	pid := sys.Root.Spawn(admin.Props(fake))
	results := make(chan *admin.Result, 4)
	probe := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if r, ok := ctx.Message().(*admin.Result); ok {
			results <- r
		}
	}))
	sys.Root.Send(pid, &admin.Call{ID: 1, ReplyTo: probe, Request: &pb.LogoutSessionRequest{Tsih: 1}})
	sys.Root.Send(pid, &admin.Call{ID: 2, ReplyTo: probe, Request: &pb.ClearFaultsRequest{Target: "iqn.2026-11.dev.atgt:vm1"}})
	time.Sleep(50 * time.Millisecond) // the logout is in progress, the clear queued
	sys.Root.Stop(pid)
	for range 2 {
		select {
		case r := <-results:
			if connect.CodeOf(r.Err) != connect.CodeCanceled {
				t.Errorf("call %d after the stop: %+v, want canceled", r.ID, r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call was not answered after the actor stopped")
		}
	}
}
