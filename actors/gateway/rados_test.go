//go:build ceph

package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/cephtest"
)

// The RADOS tests run on the one-node test cluster of tests/cephtest (shared through
// $ATGT_CEPH_DIR, else started here and stopped after the tests).
func TestMain(m *testing.M) { cephtest.Main(m) }

// TestRadosBlocklistedNode: node A's client is blocklisted (`ceph osd blocklist
// add`, an administrator fencing it). A notices through its lost watch and watches
// again on a new client, by itself; then events travel both ways again.
func TestRadosBlocklistedNode(t *testing.T) {
	c := cephtest.Shared(t)
	cfg := RadosConfig{Pool: "rbd", Object: ObjectName(fmt.Sprintf("gwtest-%d", time.Now().UnixNano())), User: "admin",
		CephConf: c.Conf}
	open := func(group uint16) (*Channel, *radosBus, chan Notice) {
		bus, err := OpenRados(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Open(bus, group)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ch.Close() })
		got := make(chan Notice, 4)
		ch.Attach(func(n Notice, ack func()) { got <- n; ack() })
		return ch, bus.(*radosBus), got
	}
	a, busA, gotA := open(1)
	b, _, gotB := open(2)
	old := busA.obj.ClientAddr()
	c.Blocklist(t, old)
	blocked := time.Now()
	for busA.obj.ClientAddr() == old {
		if time.Since(blocked) > 60*time.Second {
			t.Fatal("A still on its blocklisted client 60 s later")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("A on a new client %v after the blocklist", time.Since(blocked).Round(time.Millisecond))
	// A's new client shows before A's watch on it is registered: an event
	// announced in between is acknowledged by B's watch alone and never
	// reaches A (a notify counts the watches there are). Announce again until
	// A has one.
	deadline := time.Now().Add(30 * time.Second)
	for got := false; !got; {
		if time.Now().After(deadline) {
			t.Fatal("B's event never reached A")
		}
		if b.Announce(LogicalUnitReset) != nil {
			continue
		}
		select {
		case n := <-gotA:
			if n != (Notice{Kind: LogicalUnitReset, Group: 2}) {
				t.Fatalf("A got %+v", n)
			}
			got = true
		case <-time.After(time.Second):
		}
	}
	if err := a.Announce(TargetReset); err != nil {
		t.Fatalf("A announcing on its new client: %v", err)
	}
	if n := <-gotB; n != (Notice{Kind: TargetReset, Group: 1}) {
		t.Fatalf("B got %+v", n)
	}
}
