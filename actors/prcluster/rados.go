//go:build ceph

package prcluster

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/atgt/atgt/actors/gateway"
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
// A client the cluster blocklisted (a writer fencing this gateway for a
// change it did not acknowledge, members.go; an administrator; or its whole
// address) answers every call ESHUTDOWN for ever: the call fails (a PROUT is
// answered as failed, never redone on its own; a reread puts the node in
// doubt, ErrBlocklisted), and backend.RadosObject dials a new client for the
// calls after it. The store's lost watch (ended by librados' error callback,
// or retired with the client) is then restored on the new client, which
// joins again and rereads the object (Store.rewatch).

func init() { openRados = openRadosObject }

// watchTimeout is how long the OSD keeps the watch of a node that stopped
// pinging (rados_watch3's timeout, instead of the cluster's osd client watch
// timeout, 30 s by default, often lowered). Above the writer's wait
// (StaleAfter and a fifth): a node the notify stops counting has then been
// silent for longer than its lease, so it refuses commands, also if it is no
// registered member (members.go), which makes the store's safety independent
// of the cluster's setting. A dead node's watch lingering costs nothing more:
// the writer waits out the lease for it as a missed member anyway, and
// blocklisting it ends its watch.
const watchTimeout = 30 * time.Second

// maxObject bounds the state read back; MaxRegistrations registrations
// with the longest iSCSI names take well under it.
const maxObject = 1 << 20

// ObjectName is the name of the reservation object of an RBD image.
func ObjectName(image string) string { return "atgt.pr." + image }

type radosObject struct {
	obj *backend.RadosObject
	oid string
	// events is the gateway event object beside the image, where each
	// gateway publishes its image client (gateway.<port>).
	events string
}

// memberPrefix starts a member's omap key on the object; its port follows.
const memberPrefix = "member."

// maxMembers bounds the omap entries read: one per gateway.
const maxMembers = 1024

func openRadosObject(c RadosConfig) (Object, error) {
	oid := ObjectName(c.Image)
	obj, err := backend.OpenRadosObject(c.User, c.CephConf, c.Pool, c.Namespace, oid)
	if err != nil {
		return nil, err
	}
	return &radosObject{obj: obj, oid: oid, events: gateway.ObjectName(c.Image)}, nil
}

// blocklisted marks a call's error as the blocklist's (ErrBlocklisted).
func blocklisted(err error) error {
	if backend.RadosBlocklisted(err) {
		return fmt.Errorf("%w: %w", ErrBlocklisted, err)
	}
	return err
}

// Join sets member.<port> to this node's client address in the object's
// omap (the object's version moves: a PROUT racing it is redone), and names
// the port in this node's acknowledgements.
func (o *radosObject) Join(port uint16) error {
	o.obj.SetAckPayload(ackPayload(port))
	return blocklisted(o.obj.Do(func(ioctx *rados.IOContext) error {
		addr := backend.RadosAddr(ioctx)
		if addr == "" {
			return errors.New("rados: cannot name this node's client")
		}
		return ioctx.SetOmap(o.oid, map[string][]byte{memberPrefix + strconv.FormatUint(uint64(port), 10): []byte(addr)})
	}))
}

// Members reads the registrations in the object's omap and the image
// clients the gateways published on the event object (which is missing when
// the image has no port groups).
func (o *radosObject) Members() (map[uint16][]string, error) {
	out := map[uint16][]string{}
	err := o.obj.DoShared(func(ioctx *rados.IOContext) error {
		reg, err := ioctx.GetOmapValues(o.oid, "", memberPrefix, maxMembers)
		if err != nil {
			return err
		}
		for k, v := range reg {
			p, err := strconv.ParseUint(strings.TrimPrefix(k, memberPrefix), 10, 16)
			if err != nil || p == 0 {
				continue
			}
			out[uint16(p)] = nil
			if len(v) > 0 {
				out[uint16(p)] = []string{string(v)}
			}
		}
		dir, err := ioctx.GetOmapValues(o.events, "", "gateway.", maxMembers)
		if errors.Is(err, rados.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for port, addr := range gateway.ParseDirectory(dir) {
			if addrs, ok := out[port]; ok && !slices.Contains(addrs, addr) {
				out[port] = append(addrs, addr)
			}
		}
		return nil
	})
	return out, blocklisted(err)
}

// Forget removes member.<port> if it names one of addrs (all if nil). The
// read and the removal are two operations: a node that joins again in
// between loses its registration until its next join (a missed change or a
// new watch), its lease still bounding what it misses.
func (o *radosObject) Forget(port uint16, addrs []string) error {
	key := memberPrefix + strconv.FormatUint(uint64(port), 10)
	return blocklisted(o.obj.Do(func(ioctx *rados.IOContext) error {
		if addrs != nil {
			got, err := ioctx.GetOmapValues(o.oid, "", key, 1)
			if err != nil {
				return err
			}
			if v, ok := got[key]; !ok || !slices.Contains(addrs, string(v)) {
				return nil
			}
		}
		return ioctx.RmOmapKeys(o.oid, []string{key})
	}))
}

// Blocklist fences addr through this node's client (a monitor command).
func (o *radosObject) Blocklist(addr string) error { return blocklisted(o.obj.Blocklist(addr)) }

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
		return nil, 0, blocklisted(err)
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
	return blocklisted(err)
}

func (o *radosObject) Notify(payload []byte, timeout time.Duration) ([]uint16, int, error) {
	acks, missed, err := o.obj.Notify(payload, timeout)
	ports := make([]uint16, 0, len(acks))
	for _, a := range acks {
		ports = append(ports, ackPort(a))
	}
	return ports, missed, blocklisted(err)
}

// Watch creates the object if it is missing (an empty object is the state
// without registrations) and watches it.
func (o *radosObject) Watch() (<-chan Event, error) {
	ch, err := backend.RadosWatch[Event](o.obj, watchTimeout)
	return ch, blocklisted(err)
}

func (o *radosObject) Close() error { return o.obj.Close() }
