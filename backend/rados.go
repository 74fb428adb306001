//go:build ceph

package backend

import (
	"fmt"

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
