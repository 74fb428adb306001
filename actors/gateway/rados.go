//go:build ceph

package gateway

import (
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
// rados_notify2) on an empty object next to the image, and the directory in its
// omap. backend.RadosObject replaces a client the cluster blocklisted; the
// channel's lost watch is restored on the new one (Channel.rewatch).
type radosBus struct {
	obj *backend.RadosObject
	oid string
}

func openRadosBus(c RadosConfig) (Bus, error) {
	obj, err := backend.OpenRadosObject(c.User, c.CephConf, c.Pool, c.Namespace, c.Object)
	if err != nil {
		return nil, err
	}
	return &radosBus{obj: obj, oid: c.Object}, nil
}

func (b *radosBus) Notify(payload []byte, timeout time.Duration) (int, error) {
	_, missed, err := b.obj.Notify(payload, timeout)
	if backend.RadosErrno(err) == -int(syscall.ETIMEDOUT) {
		return max(missed, 1), nil // some watcher did not answer in time
	}
	return missed, err
}

func (b *radosBus) Watch() (<-chan Event, error) {
	return backend.RadosWatch[Event](b.obj, watchTimeout)
}

// Publish sets key in the object's omap. It runs on the LUN's lock poller, beside
// a notify (DoShared).
func (b *radosBus) Publish(key string, value []byte) error {
	return b.obj.DoShared(func(ioctx *rados.IOContext) error {
		return ioctx.SetOmap(b.oid, map[string][]byte{key: value})
	})
}

// Directory reads the object's omap (a handful of keys, one per node), beside a
// notify as Publish.
func (b *radosBus) Directory() (dir map[string][]byte, err error) {
	err = b.obj.DoShared(func(ioctx *rados.IOContext) error {
		dir, err = ioctx.GetAllOmapValues(b.oid, "", "", 64)
		return err
	})
	return dir, err
}

func (b *radosBus) Close() error { return b.obj.Close() }
