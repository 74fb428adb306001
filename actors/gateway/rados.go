//go:build ceph

package gateway

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/atgt/atgt/backend"
)

func init() { openRados = openRadosBus }

// watchTimeout is how long the OSD keeps the watch of a node that stopped
// answering: a dead node's watch ends after it, and a notification stops waiting
// for it.
const watchTimeout = 10 * time.Second

// radosBus is the event object in RADOS: watch/notify (rados_watch3,
// rados_notify2) on an empty object next to the image.
//
// A client the cluster blocklisted (an administrator fencing this gateway, or its
// whole address) answers ESHUTDOWN for ever: the call fails, and the bus dials a new
// client for the calls after it; the channel's lost watch is restored on it.
type radosBus struct {
	cfg RadosConfig
	oid string
	// mu guards the client and the watch; a notify holds it too, so that the client
	// it uses is not let go meanwhile.
	mu    sync.Mutex
	conn  *rados.Conn
	ioctx *rados.IOContext
	w     *rados.Watcher
	stop  chan struct{}
	// dirMu keeps Close and recover from letting go of ioctx under a directory
	// call (those run on the LUN's lock poller, not under mu). closed is written
	// under both.
	dirMu  sync.RWMutex
	closed bool
}

func openRadosBus(c RadosConfig) (Bus, error) {
	conn, ioctx, err := backend.RadosDial(c.User, c.CephConf, c.Pool, c.Namespace, backend.RadosTimeouts())
	if err != nil {
		return nil, err
	}
	// A watch needs the object to exist.
	if err := ioctx.Create(c.Object, rados.CreateIdempotent); err != nil {
		ioctx.Destroy()
		conn.Shutdown()
		return nil, fmt.Errorf("rados: creating %s: %w", c.Object, err)
	}
	return &radosBus{cfg: c, conn: conn, ioctx: ioctx, oid: c.Object, stop: make(chan struct{})}, nil
}

// recover replaces the client if err says the cluster blocklisted it, and reports
// whether it did; b.mu is held (and b.closed false). The old client is let go in
// the background.
func (b *radosBus) recover(err error) bool {
	if !backend.RadosBlocklisted(err) {
		return false
	}
	conn, ioctx, derr := backend.RadosDial(b.cfg.User, b.cfg.CephConf, b.cfg.Pool, b.cfg.Namespace, backend.RadosTimeouts())
	if derr != nil {
		return false // the next call tries again
	}
	// Under dirMu too: a directory call (on the lock poller) never uses the old
	// client while it is let go.
	b.dirMu.Lock()
	defer b.dirMu.Unlock()
	backend.RadosRetire(b.conn, b.ioctx, b.w)
	b.conn, b.ioctx, b.w = conn, ioctx, nil
	return true
}

// ClientAddr is the address of the bus's RADOS client, for tests.
func (b *radosBus) ClientAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return backend.RadosAddr(b.ioctx)
}

func (b *radosBus) Notify(payload []byte, timeout time.Duration) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBusClosed
	}
	_, timeouts, err := b.ioctx.NotifyWithTimeout(b.oid, payload, timeout)
	b.recover(err)
	if backend.RadosErrno(err) == -int(syscall.ETIMEDOUT) {
		return max(len(timeouts), 1), nil // some watcher did not answer in time
	}
	return len(timeouts), err
}

func (b *radosBus) Watch() (<-chan Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBusClosed
	}
	if b.w != nil {
		_ = b.w.Delete()
		b.w = nil
	}
	w, err := b.ioctx.WatchWithTimeout(b.oid, watchTimeout)
	if b.recover(err) {
		w, err = b.ioctx.WatchWithTimeout(b.oid, watchTimeout) // on the new client
	}
	if err != nil {
		return nil, err
	}
	b.w = w
	out := make(chan Event, 16)
	go func() {
		defer close(out)
		for {
			select {
			case ne, ok := <-w.Events():
				if !ok {
					return
				}
				out <- Event{Data: ne.Data, Ack: func() { _ = ne.Ack(nil) }}
			case err, ok := <-w.Errors():
				if !ok {
					return
				}
				out <- Event{Err: err}
				return
			case <-b.stop:
				return
			}
		}
	}()
	return out, nil
}

// errBusClosed answers a call after Close.
var errBusClosed = errors.New("gateway: event object closed")

// Publish sets key in the object's omap.
func (b *radosBus) Publish(key string, value []byte) error {
	b.dirMu.RLock()
	defer b.dirMu.RUnlock()
	if b.closed {
		return errBusClosed
	}
	return b.ioctx.SetOmap(b.oid, map[string][]byte{key: value})
}

// Directory reads the object's omap (a handful of keys, one per node).
func (b *radosBus) Directory() (map[string][]byte, error) {
	b.dirMu.RLock()
	defer b.dirMu.RUnlock()
	if b.closed {
		return nil, errBusClosed
	}
	return b.ioctx.GetAllOmapValues(b.oid, "", "", 64)
}

func (b *radosBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirMu.Lock()
	defer b.dirMu.Unlock()
	b.closed = true
	select {
	case <-b.stop:
		return nil
	default:
	}
	close(b.stop)
	var err error
	if b.w != nil {
		err = b.w.Delete()
		b.w = nil
	}
	b.ioctx.Destroy()
	b.conn.Shutdown()
	return err
}
