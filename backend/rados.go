//go:build ceph

package backend

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ceph/go-ceph/rados"
)

// RadosDial connects to a Ceph cluster as user (cephx name without "client.";
// "" is admin) with the ceph.conf at cephConf ("" reads Ceph's default places),
// sets opts before connecting, and opens pool with namespace. The RBD backend, the
// cluster reservation store and the gateway event channel each hold a connection of
// their own, made here. The caller destroys ioctx and shuts conn down.
func RadosDial(user, cephConf, pool, namespace string, opts map[string]string) (*rados.Conn, *rados.IOContext, error) {
	if user == "" {
		user = "admin"
	}
	conn, err := rados.NewConnWithUser(user)
	if err != nil {
		return nil, nil, fmt.Errorf("rados: %w", err)
	}
	if cephConf != "" {
		err = conn.ReadConfigFile(cephConf)
	} else {
		err = conn.ReadDefaultConfigFile()
	}
	if err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("rados: reading %q: %w", cephConf, err)
	}
	for k, v := range opts {
		if err := conn.SetConfigOption(k, v); err != nil {
			conn.Shutdown()
			return nil, nil, fmt.Errorf("rados: setting %s: %w", k, err)
		}
	}
	if err := conn.Connect(); err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("rados: connecting with %q: %w", cephConf, err)
	}
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("rados: pool %q: %w", pool, err)
	}
	ioctx.SetNamespace(namespace)
	return conn, ioctx, nil
}

// RadosBlocklisted reports whether err (a go-ceph error, possibly wrapped) is
// librados' answer to a client the cluster blocklisted: ESHUTDOWN, which Ceph calls
// EBLOCKLISTED. Such a client never works again; a new one (RadosDial) does, as its
// address nonce differs, unless the whole address is blocklisted.
func RadosBlocklisted(err error) bool {
	return RadosErrno(err) == -int(syscall.ESHUTDOWN)
}

// RadosErrno is the negative errno of a go-ceph error, 0 if it has none. A write
// op's error is an OperationError, which holds the op's error without wrapping it.
func RadosErrno(err error) int {
	var op rados.OperationError
	if errors.As(err, &op) && op.OpError != nil {
		err = op.OpError
	}
	var e interface{ ErrorCode() int }
	if errors.As(err, &e) {
		return e.ErrorCode()
	}
	return 0
}

// RadosTimeouts bounds a RADOS client's waits (RadosDial's opts): a cluster that
// does not answer fails the call after 30 s rather than hanging its goroutine.
func RadosTimeouts() map[string]string {
	return map[string]string{"rados_mon_op_timeout": "30", "rados_osd_op_timeout": "30", "client_mount_timeout": "30"}
}

// RadosRetire lets go of a client that was replaced after blocklisting: its watch
// (w, nil when none), its pool context and its connection, in the background, as a
// blocklisted client's calls may block.
func RadosRetire(conn *rados.Conn, ioctx *rados.IOContext, w *rados.Watcher) {
	go func() {
		if w != nil {
			_ = w.Delete()
		}
		ioctx.Destroy()
		conn.Shutdown()
	}()
}
