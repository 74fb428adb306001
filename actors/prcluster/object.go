package prcluster

import (
	"errors"
	"time"
)

// Object is the one shared object a logical unit's reservation state lives
// in, reduced to what the store needs from RADOS. radosObject (rados.go,
// build tag ceph) is the real one; MemObject is an in-process one for tests.
type Object interface {
	// Read returns the object's data and version; a missing object is no
	// data and version 0.
	Read() (data []byte, version uint64, err error)
	// Write replaces the data if the object's version is still version
	// (version 0: if the object still does not exist) and returns
	// ErrRaced if it is not: a compare-and-swap.
	Write(data []byte, version uint64) error
	// Notify sends payload to every watcher of the object, this node's
	// own included, and waits up to timeout for their acknowledgements; it
	// returns the ports of the members that acknowledged (0 for a watcher
	// that did not name itself) and how many watchers did not in time.
	// A member whose watch the cluster dropped is in neither.
	Notify(payload []byte, timeout time.Duration) (acked []uint16, missed int, err error)
	// Join registers this node, the one of relative target port port, as a
	// member (members.go) with the address of its client, and names it in
	// its acknowledgements from then on. The store joins before it watches
	// and again after each new watch (a new client has a new address).
	Join(port uint16) error
	// Members lists the registered members: port -> the RADOS client
	// addresses that fence that member's node (its store's, from its
	// registration, and its image's, as the gateway published it beside the
	// image); none known is an empty list.
	Members() (map[uint16][]string, error)
	// Forget removes the registration of port if it still names one of
	// addrs (a node that joined again since keeps its new one), or whatever
	// it names if addrs is nil (the node itself, closing).
	Forget(port uint16, addrs []string) error
	// Blocklist fences the RADOS client at addr (`ceph osd blocklist add`):
	// every OSD refuses it from then on.
	Blocklist(addr string) error
	// Watch registers a watch: each notification arrives as an Event on the
	// channel. When the watch is lost an Event with Err set arrives and the
	// caller watches again (and rereads the object: notifications may have
	// been missed). Close ends the watch and closes the channel.
	Watch() (<-chan Event, error)
	// Close releases the watch and the object's handles.
	Close() error
}

// Event is one notification received by a watch, or the loss of the watch.
type Event struct {
	Data []byte
	// Ack acknowledges the notification; it may block on the network, so
	// it is never called inside an actor's Receive.
	Ack func()
	Err error
}

// ErrRaced is Object.Write's answer when another writer changed the object
// since it was read.
var ErrRaced = errors.New("prcluster: the object changed since it was read")

// ErrBlocklisted wraps an Object call's error when the cluster blocklisted
// this node's client (EBLOCKLISTED, ESHUTDOWN): the node may have been fenced
// for a change it missed, so it is in doubt until it has reread the object on
// a new client.
var ErrBlocklisted = errors.New("prcluster: this node's RADOS client is blocklisted")
