package prcluster

import (
	"errors"
	"time"
)

// Object is the one shared object a logical unit's reservation state lives
// in, reduced to the four things the store needs from RADOS. radosObject
// (rados.go, build tag ceph) is the real one; MemObject is an in-process one
// for tests.
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
	// returns how many acknowledged and how many did not in time.
	Notify(payload []byte, timeout time.Duration) (acked, missed int, err error)
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
