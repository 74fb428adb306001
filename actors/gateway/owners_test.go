package gateway

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSameClient(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:0/899201612", "127.0.0.1:0/899201612", true},
		{"127.0.0.1:0/899201612", "127.0.0.1:0/458769669", false}, // two clients on one host
		{"127.0.0.1:0/1", "127.0.0.2:0/1", false},
		{"v1:127.0.0.1:0/7", "127.0.0.1:0/7", true},
		{"[v2:10.0.0.1:0/7,v1:10.0.0.1:0/7]", "any:10.0.0.1:0/7", true},
		{"[v2:10.0.0.1:0/7,v1:10.0.0.1:0/7]", "10.0.0.1:0/8", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // no nonce: tells nothing
		{"", "", false},
	} {
		if got := sameClient(c.a, c.b); got != c.want {
			t.Errorf("sameClient(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestParseDirectory(t *testing.T) {
	got := parseDirectory(map[string][]byte{"gateway.1": []byte("a/1"), "gateway.70000": []byte("b/1"),
		"gateway.0": []byte("c/1"), "gateway.x": []byte("d/1"), "other": []byte("e/1"), "gateway.3": nil})
	if len(got) != 1 || got[1] != "a/1" {
		t.Fatalf("parseDirectory: %v", got)
	}
	if g := groupOf(map[uint16]string{1: "h:0/1", 2: "h:0/1"}, "h:0/1"); g != 0 {
		t.Fatalf("an address claimed by two groups maps to %d, want 0", g)
	}
}

// fakeCluster is RBD's lock record as every node reads it.
type fakeCluster struct {
	mu    sync.Mutex
	owner string
}

func (c *fakeCluster) set(owner string) { c.mu.Lock(); c.owner = owner; c.mu.Unlock() }

// fakeNode is one node's backend client on the fake cluster.
type fakeNode struct {
	c    *fakeCluster
	mu   sync.Mutex
	addr string
	err  error
}

func (n *fakeNode) IsLockOwner() (bool, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.c.owner != "" && n.c.owner == n.client(), nil
}

func (n *fakeNode) LockOwners() ([]string, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.c.owner == "" {
		return nil, nil
	}
	return []string{n.c.owner}, nil
}

func (n *fakeNode) client() string { n.mu.Lock(); defer n.mu.Unlock(); return n.addr }

func (n *fakeNode) LockClient() (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr, n.err
}

// TestLocatorThreeNodes: three nodes on one event object agree on the group of the
// lock's holder, through its moves, a reconnect on a new client, a holder that is
// no gateway, and a directory entry lost.
func TestLocatorThreeNodes(t *testing.T) {
	hub, cluster := NewMemHub(), &fakeCluster{}
	now := time.Unix(1000, 0)
	nodes := make([]*fakeNode, 3)
	locs := make([]*Locator, 3)
	for i := range nodes {
		nodes[i] = &fakeNode{c: cluster, addr: "127.0.0.1:0/" + string(rune('a'+i))}
		locs[i] = newLocator(hub.Bus(), uint16(i+1), nodes[i], nil)
		locs[i].now = func() time.Time { return now }
	}
	all := func(why string, want uint16) {
		t.Helper()
		for i, l := range locs {
			g, err := l.OwnerGroup()
			if err != nil || g != want {
				t.Fatalf("%s: node %d says group %d (%v), want %d", why, i+1, g, err, want)
			}
		}
	}
	all("no holder", 0)
	cluster.set(nodes[2].addr)
	all("C holds", 3)
	cluster.set(nodes[0].addr)
	all("A holds", 1)
	// B reconnects on a new client (after a blocklist) and takes the lock.
	nodes[1].mu.Lock()
	nodes[1].addr = "127.0.0.1:0/b2"
	nodes[1].mu.Unlock()
	if g, _ := locs[1].OwnerGroup(); g != 1 { // B's next poll publishes the new client
		t.Fatalf("B after its reconnect: group %d", g)
	}
	cluster.set("127.0.0.1:0/b2")
	all("B holds on its new client", 2)
	cluster.set("127.0.0.1:0/rbd-bench")
	all("a client that is no gateway holds", 0)
	// C's entry is lost; C publishes it again once due.
	delete(hub.dir, directoryKey(3))
	cluster.set(nodes[2].addr)
	if g, _ := locs[0].OwnerGroup(); g != 3 {
		t.Fatalf("A's cache: group %d", g) // A read C's entry before
	}
	fresh := newLocator(hub.Bus(), 9, &fakeNode{c: cluster, addr: "127.0.0.1:0/z"}, nil)
	if g, _ := fresh.OwnerGroup(); g != 0 {
		t.Fatalf("C's entry gone: a new node says %d", g)
	}
	now = now.Add(DefaultRepublish)
	all("after C published again", 3)
	if g, _ := fresh.OwnerGroup(); g != 3 {
		t.Fatalf("C published again: a new node says %d", g)
	}
}

// TestLocatorPublishFails: a node that cannot publish still finds the holder, warns
// once, and publishes once it can.
func TestLocatorPublishFails(t *testing.T) {
	hub, cluster := NewMemHub(), &fakeCluster{}
	a := &fakeNode{c: cluster, addr: "h:0/a", err: errors.New("cluster away")}
	var warned int
	la := newLocator(hub.Bus(), 1, a, func(error) { warned++ })
	b := &fakeNode{c: cluster, addr: "h:0/b"}
	lb := newLocator(hub.Bus(), 2, b, nil)
	cluster.set("h:0/a")
	for range 3 {
		if g, err := la.OwnerGroup(); g != 1 || err != nil {
			t.Fatalf("A holds: A says %d (%v)", g, err)
		}
		if g, _ := lb.OwnerGroup(); g != 0 {
			t.Fatalf("A unpublished: B says %d", g)
		}
	}
	if warned != 1 {
		t.Fatalf("warned %d times, want once", warned)
	}
	a.mu.Lock()
	a.err = nil
	a.mu.Unlock()
	la.OwnerGroup()
	if g, _ := lb.OwnerGroup(); g != 1 {
		t.Fatalf("A published: B says %d", g)
	}
}

// staleNode is a node whose librbd still believes it holds the lock (it cannot
// learn that the lock was broken while cut off), and whose reads of the cluster
// fail or not as the test says.
type staleNode struct {
	*fakeNode
	readErr error
}

func (n *staleNode) IsLockOwner() (bool, error) { return true, nil }

func (n *staleNode) LockOwners() ([]string, error) {
	if n.readErr != nil {
		return nil, n.readErr
	}
	return n.fakeNode.LockOwners()
}

// TestLocatorOwnerConfirmed: librbd's local "I hold the lock" is not enough: the
// cluster's record must name this node, and a node that cannot read it reports an
// error (which the LUN counts towards NOT READY), not its own group.
func TestLocatorOwnerConfirmed(t *testing.T) {
	hub, cluster := NewMemHub(), &fakeCluster{}
	a := &staleNode{fakeNode: &fakeNode{c: cluster, addr: "h:0/a"}}
	b := &fakeNode{c: cluster, addr: "h:0/b"}
	la, lb := newLocator(hub.Bus(), 1, a, nil), newLocator(hub.Bus(), 2, b, nil)
	cluster.set("h:0/b")
	if g, err := lb.OwnerGroup(); g != 2 || err != nil {
		t.Fatalf("B holds: B says %d (%v)", g, err)
	}
	if g, err := la.OwnerGroup(); g != 2 || err != nil {
		t.Fatalf("B holds the lock broken from A, whose librbd still says A: A says %d (%v), want 2", g, err)
	}
	a.readErr = errors.New("cluster out of reach")
	if g, err := la.OwnerGroup(); err == nil {
		t.Fatalf("A cannot read the lock's record: A says %d with no error", g)
	}
}
