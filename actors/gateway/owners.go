package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Which node holds the lock (README "Several gateways", the ALUA model).
//
// RBD's exclusive lock is recorded in the cluster, on the image's header object, by
// the RADOS client address of its holder (librbd's rbd_lock_get_owners answers
// "127.0.0.1:0/899201612": IP, port and the client's random nonce). Any node can read
// it, but an address says nothing of the port group behind it. So each node publishes
// its own client's address in the directory of the event object next to the image
// (an omap key gateway.<group> on atgt.events.<image>), again whenever its client
// changes (a reconnect after a blocklist makes a new one) and every
// DefaultRepublish; and a node that does not hold the lock maps the holder's address
// to a group through that directory. The lock's record is the truth: when a dead
// node's lock is broken, the record names the new holder at once; nothing depends
// on a notification arriving.

// LockHolders is what a Locator asks of the backend (the RBD backend has it). The
// calls may block on the cluster.
type LockHolders interface {
	// IsLockOwner reports whether this node's client holds the lock now.
	IsLockOwner() (bool, error)
	// LockOwners names the clients holding the lock as the cluster records them;
	// none when the lock is free.
	LockOwners() ([]string, error)
	// LockClient names this node's client the same way.
	LockClient() (string, error)
}

// DefaultRepublish is how often a node writes its directory entry even when its
// client did not change, so that a lost or removed entry comes back.
const DefaultRepublish = 30 * time.Second

// directoryPrefix starts every directory key; the group's id follows in decimal.
const directoryPrefix = "gateway."

// directoryKey is group's key in the directory.
func directoryKey(group uint16) string {
	return directoryPrefix + strconv.FormatUint(uint64(group), 10)
}

// Locator finds the port group whose node holds the lock, for one logical unit on
// one node. It is used from one goroutine at a time (the LUN's lock poller).
type Locator struct {
	lock      LockHolders
	bus       Bus
	group     uint16
	republish time.Duration
	now       func() time.Time
	// warn hears a failed publication (the owner is still looked up).
	warn func(error)

	mu          sync.Mutex
	published   string // the client address last published, "" before the first
	publishedAt time.Time
	failing     bool              // the last publication failed (warned once)
	known       map[uint16]string // the directory as last read: group -> address
}

// Locator returns the node's Locator over lock, publishing on the channel's object;
// warn (may be nil) hears failed publications.
func (c *Channel) Locator(lock LockHolders, warn func(error)) *Locator {
	return newLocator(c.bus, c.group, lock, warn)
}

func newLocator(bus Bus, group uint16, lock LockHolders, warn func(error)) *Locator {
	if warn == nil {
		warn = func(error) {}
	}
	return &Locator{lock: lock, bus: bus, group: group, republish: DefaultRepublish, now: time.Now, warn: warn}
}

// OwnerGroup returns the port group whose node holds the lock: this node's own, or
// another's found in the directory; 0 when the lock is free or its holder published
// no entry (not a gateway, or one not yet published). It publishes this node's
// entry first when due. The cluster's record of the holder is read at every call,
// also when librbd says this node holds the lock: that answer is local, and a node
// cut off from the cluster would go on believing it after its lock was broken; a
// call that cannot reach the cluster fails or blocks, which the caller counts
// (actors/lun: alua_contact.go). It blocks on the cluster: never call it in an
// actor.
func (l *Locator) OwnerGroup() (uint16, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.publish()
	own, err := l.lock.IsLockOwner()
	if err != nil {
		return 0, err
	}
	owners, err := l.lock.LockOwners()
	if err != nil {
		return 0, err
	}
	if len(owners) == 0 {
		return 0, nil
	}
	if own {
		if me, err := l.lock.LockClient(); err != nil || sameClient(me, owners[0]) {
			return l.group, nil // the record names this node (or it cannot say which it is)
		}
		// librbd still thinks it holds a lock the cluster gave another client:
		// the holder is whoever the record names.
	}
	if g := groupOf(l.known, owners[0]); g != 0 {
		return g, nil
	}
	// A holder not (yet) known: its entry may be new; read the directory again.
	dir, err := l.bus.Directory()
	if err != nil {
		return 0, err
	}
	l.known = parseDirectory(dir)
	return groupOf(l.known, owners[0]), nil
}

// publish writes this node's entry when its client changed or it is due; a failure
// is told to warn once (not at every poll) and retried at the next call.
func (l *Locator) publish() {
	addr, err := l.lock.LockClient()
	if err == nil && addr == "" {
		err = errors.New("gateway: the backend cannot name its RADOS client")
	}
	if err == nil && addr == l.published && l.now().Sub(l.publishedAt) < l.republish {
		return
	}
	if err == nil {
		err = l.bus.Publish(directoryKey(l.group), []byte(addr))
	}
	if err != nil {
		if !l.failing {
			l.warn(fmt.Errorf("gateway: publishing this node's lock client: %w", err))
		}
		l.failing = true
		return
	}
	l.published, l.publishedAt, l.failing = addr, l.now(), false
}

// ParseDirectory reads the gateway entries of an event object's directory:
// port group -> the RADOS client address its node's image is open on.
func ParseDirectory(dir map[string][]byte) map[uint16]string { return parseDirectory(dir) }

// parseDirectory reads the gateway entries of an object's directory.
func parseDirectory(dir map[string][]byte) map[uint16]string {
	out := make(map[uint16]string, len(dir))
	for k, v := range dir {
		id, ok := strings.CutPrefix(k, directoryPrefix)
		if !ok {
			continue
		}
		g, err := strconv.ParseUint(id, 10, 16)
		if err != nil || g == 0 || len(v) == 0 {
			continue
		}
		out[uint16(g)] = string(v)
	}
	return out
}

// groupOf is the group whose published client is owner; 0 when none is, or when
// more than one is (two nodes claiming one client: a misconfiguration, trusted for
// neither).
func groupOf(known map[uint16]string, owner string) uint16 {
	var found uint16
	for g, addr := range known {
		if !sameClient(addr, owner) {
			continue
		}
		if found != 0 {
			return 0
		}
		found = g
	}
	return found
}

// sameClient reports whether two RADOS client addresses name one client. librados
// prints a client's addresses as one ("127.0.0.1:0/899201612") or as a vector
// ("[v2:127.0.0.1:0/1,v1:127.0.0.1:0/1]"), each maybe with its messenger type in
// front; two name the same client when they share one address with its nonce.
func sameClient(a, b string) bool {
	for _, x := range clientAddrs(a) {
		for _, y := range clientAddrs(b) {
			if x == y {
				return true
			}
		}
	}
	return false
}

// clientAddrs splits an address or address vector into "IP:PORT/NONCE" parts; a
// part without a nonce cannot tell clients on one host apart and is left out.
func clientAddrs(s string) []string {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]")
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		for _, t := range []string{"v1:", "v2:", "any:"} {
			p = strings.TrimPrefix(p, t)
		}
		if i := strings.LastIndexByte(p, '/'); i > 0 && i < len(p)-1 {
			out = append(out, p)
		}
	}
	return out
}
