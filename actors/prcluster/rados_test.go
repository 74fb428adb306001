//go:build ceph

package prcluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/cephtest"
)

// The RADOS tests run on the one-node test cluster of tests/cephtest (shared
// through $ATGT_CEPH_DIR, else started here and stopped after the tests).
func TestMain(m *testing.M) { cephtest.Main(m) }

// radosNodes opens n stores on the reservation object of a fresh image name,
// each on its own RADOS connection as separate gateways would be.
func radosNodes(t *testing.T, n int) []*node {
	t.Helper()
	c := RadosConfig{Pool: "rbd", Image: fmt.Sprintf("prtest-%s-%d", t.Name(), time.Now().UnixNano()),
		User: "admin", CephConf: cephtest.Shared(t).Conf}
	t.Cleanup(func() { removeObject(t, c) })
	var nodes []*node
	for i := range n {
		obj, err := openRados(c)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, newNodeOn(t, obj, uint16(i+1)))
	}
	return nodes
}

func removeObject(t *testing.T, c RadosConfig) {
	conn, err := rados.NewConnWithUser(c.User)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Shutdown()
	if err := conn.ReadConfigFile(c.CephConf); err != nil {
		t.Error(err)
		return
	}
	if err := conn.Connect(); err != nil {
		t.Error(err)
		return
	}
	ioctx, err := conn.OpenIOContext(c.Pool)
	if err != nil {
		t.Error(err)
		return
	}
	defer ioctx.Destroy()
	_ = ioctx.Delete(ObjectName(c.Image))
}

// On a real cluster: a key registered through one gateway is listed through
// the other; concurrent PROUTs from both gateways all land with the
// generation counting each; a PREEMPT AND ABORT through B raises REGISTRATIONS
// PREEMPTED on A's gateway only, and A's nexus conflicts from then on.
func TestRadosTwoGateways(t *testing.T) {
	nodes := radosNodes(t, 2)
	a, b := nodes[0], nodes[1]
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	if gen, keys := b.keys(); gen != 1 || len(keys) != 1 || keys[0] != 0xA {
		t.Fatalf("READ KEYS via B: generation %d keys %x, want 1 [a]", gen, keys)
	}
	good(t, a.prout(initA, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0), "RESERVE via A")
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER via B")

	const each = 8
	var wg sync.WaitGroup
	for i, n := range nodes {
		for j := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nexus := fmt.Sprintf("iqn.2026-11.dev.atgt:r%d,i,0x4000000000%02x", i, j)
				if o := <-n.submit(nexus, reservation.SARegister, 0, 0, uint64(0x100*(i+1)+j)); o.Status != scsi.StatusGood {
					t.Errorf("%s: REGISTER status %#x", nexus, o.Status)
				}
			}()
		}
	}
	wg.Wait()
	for i, n := range nodes {
		if gen, keys := n.keys(); gen != 2+2*each || len(keys) != 2+2*each {
			t.Fatalf("node %d after concurrent REGISTERs: generation %d, %d keys; want %d", i, gen, len(keys), 2+2*each)
		}
	}

	a.takeUAs()
	b.takeUAs()
	good(t, b.prout(initB, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0xA),
		"PREEMPT AND ABORT via B")
	uas := a.takeUAs()
	if len(uas) != 1 || uas[0].Nexus != initA || uas[0].Sense.ASCQ != 0x05 {
		t.Fatalf("UAs on A's gateway: %+v, want REGISTRATIONS PREEMPTED for A", uas)
	}
	if uas := b.takeUAs(); len(uas) != 0 {
		t.Fatalf("UAs on B's gateway: %+v, want none", uas)
	}
	if !a.conflicts(initA) || b.conflicts(initB) {
		t.Fatal("after the preempt A must conflict and B must not")
	}
}

// TestRadosBlocklistedGateway: gateway A's client is blocklisted (`ceph osd
// blocklist add`, an administrator fencing it). A notices through its lost watch,
// dials a new client, watches again and rereads the object, by itself; a change made
// through B then reaches A, and PROUTs through A land, on the new client.
func TestRadosBlocklistedGateway(t *testing.T) {
	nodes := radosNodes(t, 2)
	a, b := nodes[0], nodes[1]
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	addrOf := inner(a.s).(*radosObject).obj.ClientAddr
	old := addrOf()
	cephtest.Shared(t).Blocklist(t, old)
	blocked := time.Now()
	for addrOf() == old {
		if time.Since(blocked) > 60*time.Second {
			t.Fatal("A still on its blocklisted client 60 s later")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("A on a new client %v after the blocklist", time.Since(blocked).Round(time.Millisecond))
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER via B")
	if _, keys := a.keys(); len(keys) != 2 {
		t.Fatalf("A's cache after B's REGISTER: keys %x", keys)
	}
	good(t, a.prout(initA, reservation.SARegister, 0, 0xA, 0xAA), "REGISTER (new key) via A")
	if _, keys := b.keys(); len(keys) != 2 || (keys[0] != 0xAA && keys[1] != 0xAA) {
		t.Fatalf("B's cache after A's new key: %x", keys)
	}
}

// TestRadosFenceUnacknowledged (R1 on a cluster): gateway B's LUN does not
// acknowledge A's PREEMPT AND ABORT (hung with a WRITE of the preempted nexus).
// Before answering, A blocklists B's clients: its store's (from B's
// registration) and its image's (published as gateway.2 on atgt.events.<image>;
// here a client of its own standing in for B's librbd). B's image client then
// fails, B's store notices, goes into doubt and comes back on a new client with
// the change, registered under it; and the answer still waits out the lease.
func TestRadosFenceUnacknowledged(t *testing.T) {
	c := cephtest.Shared(t)
	nodes := radosNodes(t, 2)
	a, b := nodes[0], nodes[1]
	ra, rb := inner(a.s).(*radosObject), inner(b.s).(*radosObject)
	image, err := backend.OpenRadosObject("admin", c.Conf, "rbd", "", ra.events)
	if err != nil {
		t.Fatal(err)
	}
	defer image.Close()
	imageAddr := image.ClientAddr()
	if err := image.Do(func(ioctx *rados.IOContext) error {
		return ioctx.SetOmap(ra.events, map[string][]byte{"gateway.2": []byte(imageAddr)})
	}); err != nil {
		t.Fatal(err)
	}
	storeAddr := rb.obj.ClientAddr()
	t.Cleanup(func() {
		c.Ceph("osd", "blocklist", "rm", imageAddr)
		c.Ceph("osd", "blocklist", "rm", storeAddr)
		image.Do(func(ioctx *rados.IOContext) error { return ioctx.Delete(ra.events) })
	})
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER via B")
	good(t, b.prout(initB, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0), "RESERVE via B")
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER via A")
	const stale = 3 * time.Second
	for _, n := range nodes {
		n.s.SetLease(500*time.Millisecond, stale)
		n.s.SetNotifyWait(time.Second)
	}
	b.mu.Lock()
	b.hold = true // B's LUN never acknowledges
	b.mu.Unlock()
	start := time.Now()
	o := <-a.submit(initA, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0xB)
	good(t, o, "PREEMPT AND ABORT via A")
	if d := time.Since(start); d < stale {
		t.Fatalf("answered after %v, before the staleness bound %v", d, stale)
	}
	stat := func(ioctx *rados.IOContext) error { _, err := ioctx.Stat(ra.events); return err }
	if err := image.Do(stat); !backend.RadosBlocklisted(err) {
		t.Fatalf("B's image client after the answer: %v, want the blocklist's error", err)
	}
	b.mu.Lock()
	b.hold = false
	for _, u := range b.held {
		u.Ack()
	}
	b.held = nil
	doubted := b.doubted
	b.mu.Unlock()
	if !doubted {
		t.Fatal("B's store client was blocklisted, but B's LUN was never in doubt")
	}
	deadline := time.Now().Add(30 * time.Second)
	for rb.obj.ClientAddr() == storeAddr || b.s.InDoubt() || !b.conflicts(initB) {
		if time.Now().After(deadline) {
			t.Fatalf("B 30 s after the fence: new client %v, in doubt %v, conflicts %v",
				rb.obj.ClientAddr() != storeAddr, b.s.InDoubt(), b.conflicts(initB))
		}
		time.Sleep(100 * time.Millisecond)
	}
	members, err := ra.Members()
	if err != nil {
		t.Fatal(err)
	}
	if got := members[2]; len(got) == 0 || got[0] == storeAddr {
		t.Fatalf("B's registration after the fence: %v, want its new client", got)
	}
}

// The store's watch outlives the writer's wait (rados.go watchTimeout).
func TestRadosWatchTimeoutAboveLease(t *testing.T) {
	if watchTimeout <= StaleAfter+StaleAfter/leaseMarginDiv {
		t.Fatalf("watch timeout %v is not above the writer's wait %v", watchTimeout, StaleAfter+StaleAfter/leaseMarginDiv)
	}
}
