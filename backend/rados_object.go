//go:build ceph

package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceph/go-ceph/rados"
)

// ErrRadosClosed answers a call on a RadosObject after its Close.
var ErrRadosClosed = errors.New("rados: object closed")

// ErrRadosWatchRetired ends a watch whose client was replaced (blocklisted):
// the watch is gone with it, whether or not librados reported its end.
var ErrRadosWatchRetired = errors.New("rados: the watch's client was replaced after a blocklist")

// RadosObject is one RADOS object the gateways of a logical unit share (the
// cluster reservation object, the gateway event object), with the client this
// node reaches it through. A client the cluster blocklisted (an administrator
// fencing this gateway, or its whole address) answers ESHUTDOWN for ever: the
// call that meets it fails, and the object dials a new client for the calls
// after it. Its watch is lost with the old client; the watcher gets the loss
// as an event and watches again.
type RadosObject struct {
	dial func() (*rados.Conn, *rados.IOContext, error)
	oid  string
	// mu serialises Do, Notify, Watch and Close: one operation at a time on
	// the ioctx, so that rados_get_last_version reports the caller's own.
	mu sync.Mutex
	// client is held for writing while the client is replaced or closed
	// (under mu too), and for reading by DoShared, which runs beside mu.
	client sync.RWMutex
	conn   *rados.Conn
	ioctx  *rados.IOContext
	w      *rados.Watcher
	// wGone is closed when w is replaced or its client retired: it ends w's
	// pump even if librados never closes w's channels (Watcher.Delete
	// closes them only if rados_unwatch2 succeeds, which a blocklisted
	// client's may not).
	wGone  chan struct{}
	closed bool
	stop   chan struct{} // closed by Close: ends the watch's pump
	// ack is the payload every notification is acknowledged with
	// (SetAckPayload).
	ack atomic.Pointer[[]byte]
}

// OpenRadosObject dials a client for object oid in pool and namespace (see
// RadosDial), with RadosTimeouts, so that a silent cluster fails calls.
func OpenRadosObject(user, cephConf, pool, namespace, oid string) (*RadosObject, error) {
	dial := func() (*rados.Conn, *rados.IOContext, error) {
		return RadosDial(user, cephConf, pool, namespace, RadosTimeouts())
	}
	conn, ioctx, err := dial()
	if err != nil {
		return nil, err
	}
	return &RadosObject{dial: dial, oid: oid, conn: conn, ioctx: ioctx, stop: make(chan struct{})}, nil
}

// Do runs f on the object's pool context, one call at a time with the other
// calls but DoShared, and returns f's error; if that error says the client
// was blocklisted, the next call runs on a new one.
func (o *RadosObject) Do(f func(*rados.IOContext) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrRadosClosed
	}
	err := f(o.ioctx)
	o.recover(err)
	return err
}

// DoShared runs f on the object's pool context without waiting behind the
// other calls (a notify can take seconds), for callers on another goroutine;
// the client is neither replaced nor closed under f. It leaves a blocklisted
// client to the next Do, Notify or Watch to replace.
func (o *RadosObject) DoShared(f func(*rados.IOContext) error) error {
	o.client.RLock()
	defer o.client.RUnlock()
	if o.closed {
		return ErrRadosClosed
	}
	return f(o.ioctx)
}

// recover replaces the client if err says the cluster blocklisted it, and
// reports whether it did; o.mu is held and o is open. The old client is let
// go in the background (RadosRetire): a blocklisted client's calls may block.
func (o *RadosObject) recover(err error) bool {
	if !RadosBlocklisted(err) {
		return false
	}
	conn, ioctx, derr := o.dial()
	if derr != nil {
		return false // the next call tries again
	}
	o.client.Lock()
	defer o.client.Unlock()
	RadosRetire(o.conn, o.ioctx, o.w)
	o.conn, o.ioctx, o.w = conn, ioctx, nil
	o.retireWatch()
	return true
}

// retireWatch ends the current watch's pump (with ErrRadosWatchRetired for
// its reader); o.mu is held.
func (o *RadosObject) retireWatch() {
	if o.wGone != nil {
		close(o.wGone)
		o.wGone = nil
	}
}

// SetAckPayload sets what this node acknowledges notifications with, so that
// a notifier can tell who answered (NotifyAcks).
func (o *RadosObject) SetAckPayload(b []byte) {
	b = append([]byte(nil), b...)
	o.ack.Store(&b)
}

// Notify sends payload to every watcher of the object and waits up to timeout
// for their acknowledgements (rados_notify2), under Do. It returns the
// payload of each acknowledgement (SetAckPayload) and how many watchers did
// not answer in time.
func (o *RadosObject) Notify(payload []byte, timeout time.Duration) (acks [][]byte, missed int, err error) {
	err = o.Do(func(ioctx *rados.IOContext) error {
		a, timeouts, err := ioctx.NotifyWithTimeout(o.oid, payload, timeout)
		for _, x := range a {
			acks = append(acks, x.Response)
		}
		missed = len(timeouts)
		return err
	})
	return acks, missed, err
}

// Blocklist fences the RADOS client at addr in the whole cluster (`ceph osd
// blocklist add ADDR`, a monitor command through this object's client, which
// needs the cephx caps `mon 'profile rbd'` or more), for the cluster's
// default time (an hour). It returns once the monitors have committed it.
func (o *RadosObject) Blocklist(addr string) error {
	cmd, err := json.Marshal(map[string]string{"prefix": "osd blocklist", "blocklistop": "add", "addr": addr})
	if err != nil {
		return err
	}
	var status string
	err = o.DoShared(func(*rados.IOContext) error {
		_, status, err = o.conn.MonCommand(cmd)
		return err
	})
	if err != nil {
		return fmt.Errorf("rados: osd blocklist add %s: %w (%s)", addr, err, status)
	}
	return nil
}

// RadosWatch replaces o's watch with a new one (rados_watch3; timeout 0 is
// the cluster's default), creating the object if it is missing, as a watch
// needs it; on a client found blocklisted it tries once more on the new one.
// Each notification arrives on the channel as an E with its Ack, the loss of
// the watch as an E with Err, after which the channel closes. A function, not
// a method, so that each user keeps its own Event type.
func RadosWatch[E ~struct {
	Data []byte
	Ack  func()
	Err  error
}](o *RadosObject, timeout time.Duration) (<-chan E, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrRadosClosed
	}
	if o.w != nil {
		_ = o.w.Delete()
		o.w = nil
	}
	o.retireWatch()
	w, err := o.watch(timeout)
	if o.recover(err) {
		w, err = o.watch(timeout)
	}
	if err != nil {
		return nil, err
	}
	o.w = w
	gone := make(chan struct{})
	o.wGone = gone
	out := make(chan E, 16)
	go func() {
		defer close(out)
		// lost tells the reader the watch is gone; never blocks past Close.
		lost := func(err error) {
			select {
			case out <- E{Err: err}:
			case <-o.stop:
			}
		}
		for {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					lost(errors.New("rados: the watch ended"))
					return
				}
				out <- E{Data: ev.Data, Ack: func() {
					var b []byte
					if p := o.ack.Load(); p != nil {
						b = *p
					}
					_ = ev.Ack(b)
				}}
			case err, ok := <-w.Errors():
				if !ok {
					lost(errors.New("rados: the watch ended"))
					return
				}
				lost(err)
				return
			case <-gone:
				lost(ErrRadosWatchRetired)
				return
			case <-o.stop:
				return
			}
		}
	}()
	return out, nil
}

// watch creates the object if it is missing and watches it; o.mu is held.
func (o *RadosObject) watch(timeout time.Duration) (*rados.Watcher, error) {
	if err := o.ioctx.Create(o.oid, rados.CreateIdempotent); err != nil {
		return nil, err
	}
	return o.ioctx.WatchWithTimeout(o.oid, timeout)
}

// ClientAddr is the address of the current client as the OSDs see it ("" once
// closed), for tests that blocklist it.
func (o *RadosObject) ClientAddr() string {
	var addr string
	_ = o.DoShared(func(ioctx *rados.IOContext) error { addr = RadosAddr(ioctx); return nil })
	return addr
}

// Close ends the watch and lets go of the client; the calls after it get
// ErrRadosClosed. Its error is the watch's removal's.
func (o *RadosObject) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.client.Lock()
	defer o.client.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	close(o.stop)
	o.wGone = nil
	var err error
	if o.w != nil {
		err = o.w.Delete()
		o.w = nil
	}
	o.ioctx.Destroy()
	o.conn.Shutdown()
	return err
}
