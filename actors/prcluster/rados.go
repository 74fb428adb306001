//go:build ceph

package prcluster

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/atgt/atgt/backend"
)

// The shared object is a RADOS object next to the image, in the image's pool
// and namespace: atgt.pr.<image>. Its version (the OSD's object version,
// which every write raises) guards the compare-and-swap:
// rados_write_op_assert_version makes the write fail with ERANGE or
// EOVERFLOW if anybody wrote the object since it was read, and the whole
// write op (assert + write_full) is applied atomically by the primary OSD or
// not at all. Watch/notify (rados_watch2, rados_notify2) tell every node.
//
// A client the cluster blocklisted (an administrator fencing this gateway, or
// its whole address) answers every call ESHUTDOWN for ever: the call fails
// (a PROUT is answered as failed, never redone on its own), and the object
// dials a new client for the calls after it. The store's lost watch is then
// restored on the new client, which rereads the object (Store.rewatch).

func init() { openRados = openRadosObject }

// maxObject bounds the state read back; MaxRegistrations registrations
// with the longest iSCSI names take well under it.
const maxObject = 1 << 20

// ObjectName is the name of the reservation object of an RBD image.
func ObjectName(image string) string { return "atgt.pr." + image }

type radosObject struct {
	cfg   RadosConfig
	conn  *rados.Conn
	ioctx *rados.IOContext
	oid   string
	// mu serialises the calls on ioctx: rados_get_last_version reports the
	// version of the ioctx's last operation.
	mu sync.Mutex
	w  *rados.Watcher
}

func openRadosObject(c RadosConfig) (Object, error) {
	conn, ioctx, err := dialObject(c)
	if err != nil {
		return nil, err
	}
	return &radosObject{cfg: c, conn: conn, ioctx: ioctx, oid: ObjectName(c.Image)}, nil
}

func dialObject(c RadosConfig) (*rados.Conn, *rados.IOContext, error) {
	return backend.RadosDial(c.User, c.CephConf, c.Pool, c.Namespace, backend.RadosTimeouts())
}

// recover replaces the client if err says the cluster blocklisted it, and
// reports whether it did; o.mu is held. The old client is let go in the
// background (its watch cannot be removed cleanly once blocklisted).
func (o *radosObject) recover(err error) bool {
	if !backend.RadosBlocklisted(err) || o.ioctx == nil {
		return false
	}
	conn, ioctx, derr := dialObject(o.cfg)
	if derr != nil {
		return false // the next call tries again
	}
	backend.RadosRetire(o.conn, o.ioctx, o.w)
	o.conn, o.ioctx, o.w = conn, ioctx, nil
	return true
}

func (o *radosObject) Read() ([]byte, uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ioctx == nil {
		return nil, 0, errors.New("rados: closed")
	}
	buf := make([]byte, maxObject+1)
	n, err := o.ioctx.Read(o.oid, buf, 0)
	if errors.Is(err, rados.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		o.recover(err)
		return nil, 0, err
	}
	if n > maxObject {
		return nil, 0, fmt.Errorf("rados: %s is larger than %d bytes", o.oid, maxObject)
	}
	ver, err := o.ioctx.GetLastVersion()
	if err != nil {
		return nil, 0, err
	}
	return buf[:n], ver, nil
}

func (o *radosObject) Write(data []byte, version uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ioctx == nil {
		return errors.New("rados: closed")
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	if version == 0 {
		op.Create(rados.CreateExclusive)
	} else {
		op.AssertVersion(version)
	}
	op.WriteFull(data)
	err := op.Operate(o.ioctx, o.oid, rados.OperationNoFlag)
	o.recover(err)
	switch backend.RadosErrno(err) {
	case -int(syscall.EEXIST), -int(syscall.ENOENT), -int(syscall.ERANGE), -int(syscall.EOVERFLOW):
		// Created meanwhile, removed meanwhile, or written meanwhile.
		return ErrRaced
	}
	return err
}

func (o *radosObject) Notify(payload []byte, timeout time.Duration) (int, int, error) {
	// Under mu too: a notify is an operation on the ioctx, and must not come
	// between another goroutine's read and its rados_get_last_version.
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ioctx == nil {
		return 0, 0, errors.New("rados: closed")
	}
	acks, timeouts, err := o.ioctx.NotifyWithTimeout(o.oid, payload, timeout)
	o.recover(err)
	return len(acks), len(timeouts), err
}

func (o *radosObject) Watch() (<-chan Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ioctx == nil {
		return nil, errors.New("rados: closed")
	}
	if o.w != nil {
		_ = o.w.Delete()
		o.w = nil
	}
	w, err := o.watch()
	if o.recover(err) {
		w, err = o.watch() // on the new client
	}
	if err != nil {
		return nil, err
	}
	o.w = w
	out := make(chan Event, 16)
	go func() {
		defer close(out)
		events, errs := w.Events(), w.Errors()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return
				}
				out <- Event{Data: ev.Data, Ack: func() { _ = ev.Ack(nil) }}
			case err, ok := <-errs:
				if !ok {
					return
				}
				out <- Event{Err: err}
				return
			}
		}
	}()
	return out, nil
}

// watch creates the object if it is missing (a watch needs it; an empty object
// is the state without registrations) and watches it; o.mu is held.
func (o *radosObject) watch() (*rados.Watcher, error) {
	op := rados.CreateWriteOp()
	op.Create(rados.CreateIdempotent)
	err := op.Operate(o.ioctx, o.oid, rados.OperationNoFlag)
	op.Release()
	if err != nil {
		return nil, err
	}
	return o.ioctx.Watch(o.oid)
}

func (o *radosObject) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w != nil {
		_ = o.w.Delete()
		o.w = nil
	}
	if o.ioctx != nil {
		o.ioctx.Destroy()
		o.conn.Shutdown()
		o.ioctx = nil
	}
	return nil
}
