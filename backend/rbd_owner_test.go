//go:build ceph

package backend

import "testing"

// lockNames is what the gateways' ALUA locator asks of the RBD backend.
type lockNames interface {
	LockOwners() ([]string, error)
	LockClient() (string, error)
}

// TestRBDLockOwners: the lock's holder, as any client reads it, is named exactly as
// the holder names its own client; a free lock has none; the name follows the lock.
func TestRBDLockOwners(t *testing.T) {
	a, c, name := openRBDImage(t, 4<<20)
	b, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, lb := a.(lockNames), b.(lockNames)
	ca, err := la.LockClient()
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := lb.LockClient()
	if ca == "" || ca == cb {
		t.Fatalf("clients %q and %q", ca, cb)
	}
	if o, err := lb.LockOwners(); err != nil || len(o) != 0 {
		t.Fatalf("free lock: owners %q, %v", o, err)
	}
	owners := func(by lockNames, want string) {
		t.Helper()
		o, err := by.LockOwners()
		if err != nil || len(o) != 1 || o[0] != want {
			t.Fatalf("owners %q (%v), want [%q]", o, err, want)
		}
	}
	if err := a.WriteAt(make([]byte, 512), 0, false); err != nil {
		t.Fatal(err)
	}
	owners(lb, ca)
	owners(la, ca)
	if err := b.WriteAt(make([]byte, 512), 0, false); err != nil {
		t.Fatal(err)
	}
	owners(la, cb)
	t.Logf("client a %s, client b %s", ca, cb)
}
