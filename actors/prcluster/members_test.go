package prcluster

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
)

// silentSetup: node A registered and holding WE-RO through A, node B
// registered, B's image client published as gateway.2; then the OSD drops A's
// watch without A's client hearing of it (its watch timeout, A silent), while
// A's lease still runs (it cannot reread meanwhile). Short leases throughout.
func silentSetup(t *testing.T) (a, b *node, m *MemObject) {
	m = NewMemObject()
	ha := m.Handle()
	a = newNodeOn(t, ha, 1)
	b = newNode(t, m, 2)
	m.Publish(1, "img:a/1")
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER A")
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER B")
	good(t, a.prout(initA, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0), "RESERVE")
	b.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	a.s.SetLease(time.Hour, 500*time.Millisecond)
	ha.(*memHandle).dropSilently()
	return a, b, m
}

// R4: a member whose watch the OSD dropped is not counted by the notify, but
// it is still a member: the writer fences it (its store's client and its
// image's published client) and waits out the staleness bound, instead of
// answering at once while that node still admits the preempted nexus.
func TestSilentWatchDropIsMissed(t *testing.T) {
	a, b, m := silentSetup(t)
	start := time.Now()
	good(t, preemptA(b), "PREEMPT AND ABORT via B")
	took := time.Since(start)
	if took < 550*time.Millisecond {
		t.Fatalf("answered after %v, before the staleness bound (600 ms), with A's watch silently gone", took)
	}
	if got := m.Blocklisted(); !slices.Contains(got, "mem:1/0") || !slices.Contains(got, "img:a/1") {
		t.Fatalf("blocklisted %v, want A's store client mem:1/0 and image client img:a/1", got)
	}
	// A, fenced, noticed: in doubt, then back on a new client with the
	// change, and registered again under it.
	deadline := time.Now().Add(5 * time.Second)
	for !a.conflicts(initA) || a.s.InDoubt() {
		if time.Now().After(deadline) {
			t.Fatalf("A after the fence: conflicts %v, in doubt %v", a.conflicts(initA), a.s.InDoubt())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		m.mu.Lock()
		addr := m.members[1]
		m.mu.Unlock()
		if addr == "mem:1/1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A registered as %q, want its new client mem:1/1", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// R1: the fenced node goes into doubt as soon as a reread meets the
// blocklist, also when its watch never reports its end: it must not go on
// serving its old cache on its new client until a reread has brought the
// state.
func TestBlocklistedNodeDoubts(t *testing.T) {
	m := NewMemObject()
	fa := &flaky{Object: m.Handle()}
	a := newNodeOn(t, fa, 1)
	b := newNode(t, m, 2)
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER A")
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER B")
	good(t, a.prout(initA, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0), "RESERVE")
	a.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	b.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	fa.mute.Store(true)
	fa.Object.(*memHandle).dropSilently()
	a.mu.Lock()
	a.doubted = false
	a.mu.Unlock()
	good(t, preemptA(b), "PREEMPT AND ABORT via B")
	// A's call that meets the blocklist (a reread every 50 ms, or a member
	// registration) may come after the answer, and the doubt is sent from its own
	// goroutine (the lease, not this notice, keeps A from serving meanwhile).
	waitDoubted(t, a, 5*time.Second, "A's client was blocklisted and A's calls met it, but A's LUN was never told it is in doubt")
	if !a.conflicts(initA) {
		t.Fatal("A still admits the preempted nexus after the answer")
	}
}

// A blocklist that fails is logged and the answer still waits out the
// staleness bound; the member's registration is kept (it was not fenced).
func TestBlocklistFailsWaitsOutLease(t *testing.T) {
	_, b, m := silentSetup(t)
	m.SetBlocklistError(errors.New("mon: permission denied"))
	start := time.Now()
	good(t, preemptA(b), "PREEMPT AND ABORT via B")
	if d := time.Since(start); d < 550*time.Millisecond {
		t.Fatalf("answered after %v, before the staleness bound", d)
	}
	m.mu.Lock()
	_, kept := m.members[1]
	m.mu.Unlock()
	if !kept {
		t.Fatal("A's registration was removed although A was not fenced")
	}
}

// A member fenced and waited out once is forgotten: a gateway gone for good
// (killed, its registration left behind) costs one slow change, not every one.
func TestFencedMemberForgotten(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	a.s.SetLease(50*time.Millisecond, 300*time.Millisecond)
	b.s.SetLease(50*time.Millisecond, 300*time.Millisecond)
	m.mu.Lock()
	m.members[3] = "mem:9/0" // gateway 3, killed long ago
	m.mu.Unlock()
	start := time.Now()
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER A")
	if d := time.Since(start); d < 330*time.Millisecond {
		t.Fatalf("answered after %v with member 3 silent, before the staleness bound", d)
	}
	if got := m.Blocklisted(); !slices.Equal(got, []string{"mem:9/0"}) {
		t.Fatalf("blocklisted %v, want [mem:9/0]", got)
	}
	start = time.Now()
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER B")
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("the change after the fence waited %v for the forgotten member", d)
	}
}

// The members an acknowledgement names, and one that names none.
func TestAckPayload(t *testing.T) {
	if p := ackPort(ackPayload(513)); p != 513 {
		t.Fatalf("ackPort(ackPayload(513)) = %d", p)
	}
	for _, b := range []string{"", "513", "atgt.pr.port=x", "atgt.pr.port=70000"} {
		if p := ackPort([]byte(b)); p != 0 {
			t.Fatalf("ackPort(%q) = %d, want 0", b, p)
		}
	}
}

// R1, whichever call meets the blocklist: a client the cluster blocklisted fails
// the first call made on it, and the object dials a new one, on which the next
// reread succeeds. When that first call is not a reread (here the member
// registration; a PROUT's write or a notify alike) and the watch is silently
// gone, nothing else tells the node it may have missed a change: it must be in
// doubt from the refused call on, not serve its old cache until a reread.
func TestBlocklistMetByJoinDoubts(t *testing.T) {
	m := NewMemObject()
	fa := &flaky{Object: m.Handle()}
	a := newNodeOn(t, fa, 1)
	a.s.SetLease(time.Hour, 2*time.Hour) // no reread of its own during the test
	fa.mute.Store(true)
	fa.Object.(*memHandle).dropSilently()
	m.mu.Lock()
	addr := m.members[1]
	m.mu.Unlock()
	if err := m.Handle().Blocklist(addr); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.doubted = false
	a.mu.Unlock()
	a.s.join() // meets the blocklist
	waitDoubted(t, a, 2*time.Second, "A's member registration met the blocklist, but A's LUN was not told it is in doubt")
}

// waitDoubted fails the test with msg unless n's LUN is told within d that the node
// is in doubt.
func waitDoubted(t *testing.T, n *node, d time.Duration, msg string) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		doubted := n.doubted
		n.mu.Unlock()
		if doubted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
	}
}
