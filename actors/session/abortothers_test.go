package session

import (
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestAbortOthersOneAtATime: a CLEAR TASK SET, LOGICAL UNIT RESET or target reset
// acts on the task set every I_T nexus shares (RFC 7143 11.5.1, TST=000), so the
// session has the manager tell every other session. The manager also admits every
// login, so one connection's stream of such functions must not queue work there
// without bound: a session has one abortOthers with the manager at a time, merges
// the ones that follow (the union of their logical units, all of them after a
// target reset) and sends the merge when the manager's othersTold comes; what is
// still merged when the session stops goes then.
func TestAbortOthersOneAtATime(t *testing.T) {
	sys := actor.NewActorSystem()
	toMgr := make(chan *abortOthers, 256)
	mgr := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*abortOthers); ok {
			toMgr <- m
		}
	}))
	s := &sessionActor{cfg: Config{Manager: mgr, Log: hclog.NewNullLogger()}, log: hclog.NewNullLogger()}
	s.behavior = actor.NewBehavior()
	s.behavior.Become(s.fullFeature)
	sess := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); !ok { // no connection to start
			s.Receive(ctx)
		}
	}))
	expect := func(what string, want int) []*abortOthers {
		t.Helper()
		var got []*abortOthers
		deadline := time.After(100 * time.Millisecond)
		for {
			select {
			case m := <-toMgr:
				got = append(got, m)
			case <-deadline:
				if len(got) != want {
					t.Fatalf("%s: the manager got %d abortOthers, want %d", what, len(got), want)
				}
				return got
			}
		}
	}
	for i := 0; i < 100; i++ {
		sys.Root.Send(sess, &pb.TaskSetAborted{Target: "iqn.t", Luns: []uint64{uint64(i % 4)}})
	}
	if m := expect("100 CLEAR TASK SETs", 1)[0].m; !slices.Equal(m.Luns, []uint64{0}) || m.AllLuns {
		t.Fatalf("first abortOthers names LUNs %v (all %v), want [0]", m.Luns, m.AllLuns)
	}
	sys.Root.Send(sess, &othersTold{})
	m := expect("after the manager's othersTold", 1)[0].m
	if l := slices.Sorted(slices.Values(m.Luns)); !slices.Equal(l, []uint64{0, 1, 2, 3}) || m.AllLuns {
		t.Fatalf("merged abortOthers names LUNs %v (all %v), want [0 1 2 3]", l, m.AllLuns)
	}
	sys.Root.Send(sess, &othersTold{})
	expect("nothing merged", 0)

	sys.Root.Send(sess, &pb.TaskSetAborted{Target: "iqn.t", Luns: []uint64{5}})
	sys.Root.Send(sess, &pb.TaskSetAborted{Target: "iqn.t", Luns: []uint64{6}})
	sys.Root.Send(sess, &pb.TaskSetAborted{Target: "iqn.t", AllLuns: true})
	expect("LU 5", 1)
	sys.Root.Stop(sess)
	if m := expect("the session stopped", 1)[0].m; !m.AllLuns {
		t.Fatalf("abortOthers sent as the session stops: LUNs %v, want all (a target reset merged)", m.Luns)
	}
}

// TestManagerAnswersAbortOthers: the manager answers each abortOthers othersTold,
// so that its session may send the next.
func TestManagerAnswersAbortOthers(t *testing.T) {
	sys := actor.NewActorSystem()
	told := make(chan struct{}, 1)
	from := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*othersTold); ok {
			told <- struct{}{}
		}
	}))
	mgr := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newManager(conn.Config{}, hclog.NewNullLogger()) }))
	defer sys.Root.Stop(mgr)
	sys.Root.Send(mgr, &abortOthers{m: &pb.TaskSetAborted{Target: "iqn.t", AllLuns: true}, from: from})
	select {
	case <-told:
	case <-time.After(5 * time.Second):
		t.Fatal("the manager did not answer abortOthers")
	}
}
