package prcluster

import (
	"errors"

	"github.com/hashicorp/go-hclog"
)

// RadosConfig names an RBD image's reservation object: the image's pool,
// namespace and name, and how to reach the cluster.
type RadosConfig struct {
	Pool, Namespace, Image, User, CephConf string
}

// openRados opens the RADOS object; rados.go sets it in builds with the
// ceph tag, so that untagged builds carry no cgo.
var openRados func(RadosConfig) (Object, error)

// ErrNoCeph is OpenRados's answer in a build without the ceph tag.
var ErrNoCeph = errors.New("prcluster: this atgtd was built without Ceph support (build tag ceph)")

// OpenRados opens the store of the RBD image c names, for the node serving
// relative target port port.
func OpenRados(c RadosConfig, port uint16, log hclog.Logger) (*Store, error) {
	if openRados == nil {
		return nil, ErrNoCeph
	}
	obj, err := openRados(c)
	if err != nil {
		return nil, err
	}
	s, err := Open(obj, port, log)
	if err != nil {
		obj.Close()
		return nil, err
	}
	return s, nil
}
