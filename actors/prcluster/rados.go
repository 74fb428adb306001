//go:build ceph

package prcluster

import (
	"errors"
	"fmt"
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
// (a PROUT is answered as failed, never redone on its own), and
// backend.RadosObject dials a new client for the calls after it. The store's
// lost watch is then restored on the new client, which rereads the object
// (Store.rewatch).

func init() { openRados = openRadosObject }

// maxObject bounds the state read back; MaxRegistrations registrations
// with the longest iSCSI names take well under it.
const maxObject = 1 << 20

// ObjectName is the name of the reservation object of an RBD image.
func ObjectName(image string) string { return "atgt.pr." + image }

type radosObject struct {
	obj *backend.RadosObject
	oid string
}

func openRadosObject(c RadosConfig) (Object, error) {
	oid := ObjectName(c.Image)
	obj, err := backend.OpenRadosObject(c.User, c.CephConf, c.Pool, c.Namespace, oid)
	if err != nil {
		return nil, err
	}
	return &radosObject{obj: obj, oid: oid}, nil
}

func (o *radosObject) Read() (data []byte, version uint64, err error) {
	// In one Do: rados_get_last_version reports the ioctx's last operation,
	// and Do keeps the other calls (notifies too) off it meanwhile.
	err = o.obj.Do(func(ioctx *rados.IOContext) error {
		buf := make([]byte, maxObject+1)
		n, err := ioctx.Read(o.oid, buf, 0)
		if errors.Is(err, rados.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if n > maxObject {
			return fmt.Errorf("rados: %s is larger than %d bytes", o.oid, maxObject)
		}
		data = buf[:n]
		version, err = ioctx.GetLastVersion()
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return data, version, nil
}

func (o *radosObject) Write(data []byte, version uint64) error {
	err := o.obj.Do(func(ioctx *rados.IOContext) error {
		op := rados.CreateWriteOp()
		defer op.Release()
		if version == 0 {
			op.Create(rados.CreateExclusive)
		} else {
			op.AssertVersion(version)
		}
		op.WriteFull(data)
		return op.Operate(ioctx, o.oid, rados.OperationNoFlag)
	})
	switch backend.RadosErrno(err) {
	case -int(syscall.EEXIST), -int(syscall.ENOENT), -int(syscall.ERANGE), -int(syscall.EOVERFLOW):
		// Created meanwhile, removed meanwhile, or written meanwhile.
		return ErrRaced
	}
	return err
}

func (o *radosObject) Notify(payload []byte, timeout time.Duration) (int, int, error) {
	return o.obj.Notify(payload, timeout)
}

// Watch creates the object if it is missing (an empty object is the state
// without registrations) and watches it.
func (o *radosObject) Watch() (<-chan Event, error) { return backend.RadosWatch[Event](o.obj, 0) }

func (o *radosObject) Close() error { return o.obj.Close() }
