package prcluster

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/messages/scsi"
)

const (
	initA = "iqn.2026-11.dev.atgt:a,i,0x400000000001"
	initB = "iqn.2026-11.dev.atgt:b,i,0x400000000002"
)

// node is one atgt node's view for the store's tests: it plays the LUN
// actor's part, installing updates as its cache and collecting unit
// attentions, and acknowledges at once unless told to hold.
type node struct {
	t     *testing.T
	s     *Store
	mu    sync.Mutex
	cache *reservation.Table
	uas   []reservation.UA
	hold  bool
	held  []*Update
	got   chan struct{}
	// doubt is the LUN's view of Update.Doubt, by the newest seq.
	doubt bool
	seq   uint64
	// doubted is set by any Update with Doubt.
	doubted bool
}

func newNode(t *testing.T, m *MemObject, port uint16) *node {
	t.Helper()
	return newNodeOn(t, m.Handle(), port)
}

// newNodeOn is a node on its own handle of a shared object.
func newNodeOn(t *testing.T, obj Object, port uint16) *node {
	t.Helper()
	s, err := Open(obj, port, hclog.New(&hclog.LoggerOptions{Output: testLog{t}, Level: hclog.Warn,
		Name: fmt.Sprintf("node%d", port)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	n := &node{t: t, s: s, cache: s.Cache(), got: make(chan struct{}, 1024)}
	s.Attach(func(msg any) {
		u := msg.(*Update)
		n.mu.Lock()
		if u.Table != nil && u.Table.Epoch() > n.cache.Epoch() {
			n.cache = u.Table
		}
		n.uas = append(n.uas, u.UAs...)
		n.doubted = n.doubted || u.Doubt
		if u.Seq() > n.seq {
			n.seq, n.doubt = u.Seq(), u.Doubt
		}
		if n.hold {
			n.held = append(n.held, u)
		} else {
			u.Ack()
		}
		n.mu.Unlock()
		n.got <- struct{}{}
	})
	return n
}

// testLog writes a store's log lines to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func proutCDB(sa, typ uint8) []byte {
	c := make([]byte, 10)
	c[0] = scsi.OpPersistentReserveOut
	c[1] = sa
	c[2] = typ
	binary.BigEndian.PutUint32(c[5:9], 24)
	return c
}

func params(key, saKey uint64) []byte {
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	return p
}

// submit sends a PROUT through n's store and returns a channel with its outcome.
func (n *node) submit(nexus string, sa, typ uint8, key, saKey uint64) chan reservation.Outcome {
	ch := make(chan reservation.Outcome, 1)
	n.s.Submit(reservation.Nexus{ID: nexus}, proutCDB(sa, typ), params(key, saKey), func(o reservation.Outcome) { ch <- o })
	return ch
}

func (n *node) prout(nexus string, sa, typ uint8, key, saKey uint64) reservation.Outcome {
	n.t.Helper()
	select {
	case o := <-n.submit(nexus, sa, typ, key, saKey):
		return o
	case <-time.After(5 * time.Second):
		n.t.Fatal("PROUT not answered")
	}
	return reservation.Outcome{}
}

// keys runs READ KEYS on n's cache and returns the generation and keys.
func (n *node) keys() (uint32, []uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	cdb := []byte{scsi.OpPersistentReserveIn, reservation.SAReadKeys, 0, 0, 0, 0, 0, 0x10, 0, 0}
	out, _ := n.cache.Execute(reservation.Nexus{ID: initA}, cdb, nil)
	var keys []uint64
	for off := 8; off+8 <= len(out.Data); off += 8 {
		keys = append(keys, binary.BigEndian.Uint64(out.Data[off:]))
	}
	return binary.BigEndian.Uint32(out.Data[0:4]), keys
}

// conflicts reports whether a WRITE(10) from nexus conflicts on n's cache.
func (n *node) conflicts(nexus string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cache.Check(reservation.Nexus{ID: nexus}, []byte{scsi.OpWrite10, 0, 0, 0, 0, 0, 0, 0, 1, 0})
}

func (n *node) takeUAs() []reservation.UA {
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.uas
	n.uas = nil
	return u
}

func good(t *testing.T, o reservation.Outcome, what string) {
	t.Helper()
	if o.Status != scsi.StatusGood {
		t.Fatalf("%s: status %#x sense %x", what, o.Status, o.Sense)
	}
}

// A registration made through one node is seen through the other as soon as
// the PROUT is answered: the answer waits for both nodes' acknowledgements.
func TestRegisterSeenByOtherNode(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	gen, keys := b.keys()
	if gen != 1 || len(keys) != 1 || keys[0] != 0xA {
		t.Fatalf("READ KEYS via B: generation %d keys %x, want 1 [a]", gen, keys)
	}
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER via B")
	if gen, keys := a.keys(); gen != 2 || len(keys) != 2 {
		t.Fatalf("READ KEYS via A: generation %d keys %x, want 2 keys", gen, keys)
	}
}

// The same initiator port logged in to two nodes is two I_T nexuses: its
// registration through A does not register it through B.
func TestSameInitiatorTwoNexuses(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	good(t, a.prout(initA, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0), "RESERVE via A")
	if !b.conflicts(initA) {
		t.Fatal("a write from initiator A through B (unregistered there) does not conflict")
	}
	if a.conflicts(initA) {
		t.Fatal("a write from initiator A through A conflicts")
	}
	// REGISTER through B with key 0 is not a key mismatch: that nexus is new.
	good(t, b.prout(initA, reservation.SARegister, 0, 0, 0xA2), "REGISTER of A via B")
	if b.conflicts(initA) {
		t.Fatal("registered on both nodes, A's write via B still conflicts under WE_RO")
	}
}

// Concurrent PROUTs from two nodes, each a read-modify-write of the one
// object, all land: nothing is lost to a race and the generation counts
// every change.
func TestConcurrentPROUTs(t *testing.T) {
	m := NewMemObject()
	nodes := []*node{newNode(t, m, 1), newNode(t, m, 2)}
	const each = 20
	var wg sync.WaitGroup
	errs := make(chan string, 2*each)
	for i, n := range nodes {
		for j := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nexus := fmt.Sprintf("iqn.2026-11.dev.atgt:n%d,i,0x4000000000%02x", i, j)
				if o := <-n.submit(nexus, reservation.SARegister, 0, 0, uint64(100*i+j+1)); o.Status != scsi.StatusGood {
					errs <- fmt.Sprintf("%s: status %#x", nexus, o.Status)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i, n := range nodes {
		gen, keys := n.keys()
		if gen != 2*each || len(keys) != 2*each {
			t.Errorf("node %d: generation %d, %d keys; want %d and %d", i, gen, len(keys), 2*each, 2*each)
		}
	}
	if m.Writes != 2*each {
		t.Errorf("%d writes, want %d", m.Writes, 2*each)
	}
	t.Logf("%d writes, %d lost races retried", m.Writes, m.Races)
}

// Two stores racing on one object: every write of the loser is refused and
// redone on the newer state (the compare-and-swap), never applied over it.
func TestRacedWriteRedone(t *testing.T) {
	m := NewMemObject()
	a := newNode(t, m, 1)
	// A writer that read version 0 and lost: its write is refused.
	h := m.Handle()
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	if err := h.Write([]byte("stale"), 0); err != ErrRaced {
		t.Fatalf("stale write: %v, want ErrRaced", err)
	}
	if _, keys := a.keys(); len(keys) != 1 {
		t.Fatalf("keys %x after a refused stale write", keys)
	}
}

// PREEMPT through B removes A's registration and reservation: A's node
// raises REGISTRATIONS PREEMPTED for A's nexus (B's does not), and A's
// writes conflict on A's node from then on.
func TestPreemptUAOnOtherNode(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	good(t, a.prout(initA, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0), "RESERVE via A")
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER via B")
	if b.conflicts(initB) {
		t.Fatal("registrant B conflicts under WE_RO")
	}
	if !b.conflicts("iqn.2026-11.dev.atgt:c,i,0x400000000003") {
		t.Fatal("unregistered C via B does not conflict")
	}
	a.takeUAs()
	b.takeUAs()
	good(t, b.prout(initB, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusive, 0xB, 0xA), "PREEMPT AND ABORT via B")
	uas := a.takeUAs()
	if len(uas) != 1 || uas[0].Nexus != initA || uas[0].Sense.ASC != 0x2A || uas[0].Sense.ASCQ != 0x05 {
		t.Fatalf("UAs on A's node: %+v, want REGISTRATIONS PREEMPTED for A", uas)
	}
	if uas := b.takeUAs(); len(uas) != 0 {
		t.Fatalf("UAs on B's node: %+v, want none (A is not B's nexus)", uas)
	}
	if !a.conflicts(initA) {
		t.Fatal("preempted A's write via A does not conflict")
	}
	if gen, keys := a.keys(); gen != 3 || len(keys) != 1 || keys[0] != 0xB {
		t.Fatalf("after the preempt A sees generation %d keys %x, want 3 [b] (RESERVE does not count)", gen, keys)
	}
}

// A PROUT is answered only once every node acknowledged the change, or the
// notify timeout passed.
func TestPROUTWaitsForAcks(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	b.mu.Lock()
	b.hold = true
	b.mu.Unlock()
	ch := a.submit(initA, reservation.SARegister, 0, 0, 0xA)
	select {
	case <-b.got:
	case <-time.After(5 * time.Second):
		t.Fatal("B got no notification")
	}
	select {
	case o := <-ch:
		t.Fatalf("PROUT answered (%#x) before B acknowledged", o.Status)
	case <-time.After(200 * time.Millisecond):
	}
	b.mu.Lock()
	for _, u := range b.held {
		u.Ack()
	}
	b.mu.Unlock()
	select {
	case o := <-ch:
		good(t, o, "REGISTER")
	case <-time.After(5 * time.Second):
		t.Fatal("PROUT not answered after B acknowledged")
	}

	// A node that never acknowledges delays a PROUT by the staleness bound
	// (StaleAfter and its margin, from the write): by then that node has
	// reread the object, or refuses commands.
	a.s.SetNotifyWait(300 * time.Millisecond)
	a.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	start := time.Now()
	good(t, a.prout(initA, reservation.SARegister, 0, 0xA, 0xA1), "REGISTER (new key)")
	if d := time.Since(start); d < 550*time.Millisecond || d > 3*time.Second {
		t.Fatalf("PROUT with a silent node took %v, want about the staleness bound (600 ms)", d)
	}
}

// A node whose watch is lost watches again and rereads the state it missed.
func TestWatchLostRereads(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	// Written without a notification, as if B's were lost; then B's watch
	// breaks, and B must find the change by reading.
	h := m.Handle()
	data, ver, _ := h.Read()
	tb, _ := reservation.DecodeCluster(data)
	tb.Execute(reservation.Nexus{ID: initA, RelativeTargetPort: 1}, proutCDB(reservation.SARegister, 0), params(0, 0xA))
	if err := h.Write(tb.EncodeCluster(tb.Epoch()+1), ver); err != nil {
		t.Fatal(err)
	}
	if _, keys := b.keys(); len(keys) != 0 {
		t.Fatal("B saw a change nobody notified")
	}
	inner(b.s).(*memHandle).drop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, keys := b.keys(); len(keys) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B did not reread the state after its watch came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = a
}

// RESERVE(6) through A excludes other nexuses on B; a restart of A's gateway
// (a new store on port 1) releases it, since its nexuses are gone; a corrupt
// shared object stops the store from opening.
func TestLegacyAcrossNodesAndCorruptObject(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	ch := make(chan reservation.Outcome, 1)
	a.s.Submit(reservation.Nexus{ID: initA}, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil,
		func(o reservation.Outcome) { ch <- o })
	good(t, <-ch, "RESERVE(6) via A")
	if !b.conflicts(initB) || !b.conflicts(initA) || a.conflicts(initA) {
		t.Fatal("RESERVE(6) via A: B's nexuses must conflict, A's holder not")
	}
	a.s.Close()
	restarted := newNode(t, m, 1)
	deadline := time.Now().Add(5 * time.Second)
	for b.conflicts(initB) {
		if time.Now().After(deadline) {
			t.Fatal("RESERVE(6) held through a restarted gateway was not released")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = restarted

	bad := NewMemObject()
	if err := bad.Handle().Write([]byte(`{"format":"x"}`), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad.Handle(), 1, nil); err == nil {
		t.Fatal("a corrupt shared object opened")
	}
}

// An object removed while nodes serve it (an administrator dropping the state)
// and written anew still reaches them: its epochs stay above the cached ones.
func TestObjectRemovedAndRewritten(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	m.mu.Lock()
	m.data, m.version = nil, 0 // rados rm
	m.mu.Unlock()
	good(t, a.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER of B via A on the new object")
	if gen, keys := b.keys(); gen != 1 || len(keys) != 1 || keys[0] != 0xB {
		t.Fatalf("B after the object was removed and written anew: generation %d keys %x, want 1 [b]", gen, keys)
	}
}

// R5: a lost nexus's release (Do) that finds the queue full is not dropped:
// it runs after what was queued before it (here the nexus's RESERVE(6),
// still on its way), so the reservation is released everywhere; commands
// meanwhile get BUSY (the initiator retries them).
func TestEventNotDroppedWhenQueueFull(t *testing.T) {
	m := NewMemObject()
	a, b := newNode(t, m, 1), newNode(t, m, 2)
	a.mu.Lock()
	a.hold = true // A's LUN holds the acks: the first change waits, the queue fills
	a.mu.Unlock()
	a.s.SetNotifyWait(2 * time.Second)
	first := make(chan reservation.Outcome, 1)
	a.s.Submit(reservation.Nexus{ID: initA}, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil,
		func(o reservation.Outcome) { first <- o })
	for held := 0; held == 0; { // until the RESERVE is in its notify
		a.mu.Lock()
		held = len(a.held)
		a.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	for range maxQueued {
		a.s.Submit(reservation.Nexus{ID: initB}, []byte{scsi.OpRelease6, 0, 0, 0, 0, 0}, nil, func(reservation.Outcome) {})
	}
	released := make(chan reservation.Outcome, 1)
	a.s.Do(func(t *reservation.Table) { t.NexusLost(reservation.Nexus{ID: initA, RelativeTargetPort: 1}) },
		func(o reservation.Outcome) { released <- o })
	busy := a.submit(initB, reservation.SARegister, 0, 0, 0xB)
	if o := <-busy; o.Status != scsi.StatusBusy {
		t.Fatalf("a PROUT behind a full queue: status %#x, want BUSY", o.Status)
	}
	a.mu.Lock()
	a.hold = false
	for _, u := range a.held {
		u.Ack()
	}
	a.held = nil
	a.mu.Unlock()
	good(t, <-first, "RESERVE(6) of A")
	select {
	case o := <-released:
		good(t, o, "release of the lost nexus")
	case <-time.After(10 * time.Second):
		t.Fatal("the lost nexus's release never ran")
	}
	if b.conflicts(initB) {
		t.Fatal("the RESERVE(6) of a lost nexus is still held")
	}
}

// R5, checked: a RESERVE(6) holder cannot register with ALL_TG_PT (PROUT
// conflicts while a RESERVE(6) is held, SPC-2 7.10), and a RESERVE(6) after
// registrations exist leaves no holder; so the holder's name never turns into
// the ALL_TG_PT form NexusLost would miss.
func TestLegacyHolderCannotRegisterAllTgPt(t *testing.T) {
	m := NewMemObject()
	a := newNode(t, m, 1)
	ch := make(chan reservation.Outcome, 1)
	a.s.Submit(reservation.Nexus{ID: initA}, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil,
		func(o reservation.Outcome) { ch <- o })
	good(t, <-ch, "RESERVE(6) via A")
	p := params(0, 0xA)
	p[20] |= 0x04 // ALL_TG_PT
	a.s.Submit(reservation.Nexus{ID: initA}, proutCDB(reservation.SARegister, 0), p, func(o reservation.Outcome) { ch <- o })
	if o := <-ch; o.Status != scsi.StatusReservationConflict {
		t.Fatalf("REGISTER ALL_TG_PT by the RESERVE(6) holder: status %#x, want RESERVATION CONFLICT", o.Status)
	}
}

// inner is the Object a store was opened on, inside its fencedObject.
func inner(s *Store) Object {
	if f, ok := s.obj.(fencedObject); ok {
		return f.Object
	}
	return s.obj
}
