package prcluster

import (
	"errors"
	"time"
)

// A blocklisted client fails the first call made on it, whichever it is, and the
// object dials a new client for the calls after it (rados.go): a reread is not
// always the call that meets the blocklist. When a member registration, a
// PROUT's write or a notify met it first, and the watch was silently gone, the
// next reread ran on the new client and succeeded, and the node, which may have
// missed a change (a writer fences a node for one it did not acknowledge), was
// never put in doubt: its LUN went on admitting commands on its old cache until
// that reread. So every call that meets the blocklist puts the node in doubt
// (TestBlocklistMetByJoinDoubts; TestBlocklistedNodeDoubts failed under load
// when the registration met it first).

// fencedObject is the store's Object: it tells the store of each call refused
// because this node's client is blocklisted.
type fencedObject struct {
	Object
	fenced func()
}

// check tells the store if err is the blocklist's, and returns it.
func (o fencedObject) check(err error) error {
	if errors.Is(err, ErrBlocklisted) {
		o.fenced()
	}
	return err
}

func (o fencedObject) Read() ([]byte, uint64, error) {
	data, version, err := o.Object.Read()
	return data, version, o.check(err)
}

func (o fencedObject) Write(data []byte, version uint64) error {
	return o.check(o.Object.Write(data, version))
}

func (o fencedObject) Notify(payload []byte, timeout time.Duration) ([]uint16, int, error) {
	acked, missed, err := o.Object.Notify(payload, timeout)
	return acked, missed, o.check(err)
}

func (o fencedObject) Join(port uint16) error { return o.check(o.Object.Join(port)) }

func (o fencedObject) Members() (map[uint16][]string, error) {
	m, err := o.Object.Members()
	return m, o.check(err)
}

func (o fencedObject) Forget(port uint16, addrs []string) error {
	return o.check(o.Object.Forget(port, addrs))
}

func (o fencedObject) Blocklist(addr string) error { return o.check(o.Object.Blocklist(addr)) }

func (o fencedObject) Watch() (<-chan Event, error) {
	events, err := o.Object.Watch()
	return events, o.check(err)
}
