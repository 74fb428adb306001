//go:build ceph

package target

import (
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The "rbd" backend, in binaries built with the `ceph` tag (cgo, librbd).
func init() {
	openRBD = func(l *pb.Lun, gateways bool, warn func(string)) (backend.Backend, error) {
		r := l.GetRbd()
		return backend.OpenRBD(backend.RBDOptions{Pool: r.GetPool(), Namespace: r.GetNamespace(), Image: r.GetImage(),
			User: r.GetUser(), CephConf: r.GetCephConf(), ReadOnly: l.ReadOnly, Gateways: gateways, Warn: warn})
	}
}
