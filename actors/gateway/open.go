package gateway

import "errors"

// RadosConfig names the RADOS object a logical unit's events travel on and how to
// reach the cluster: for an RBD image, atgt.events.<image> in the image's pool and
// namespace (ObjectName), with the LUN's Ceph user and config file.
type RadosConfig struct {
	Pool, Namespace, Object, User, CephConf string
}

// ObjectName is the name of an RBD image's event object.
func ObjectName(image string) string { return "atgt.events." + image }

// openRados opens the RADOS bus; rados.go sets it in builds with the ceph tag, so
// that untagged builds carry no cgo.
var openRados func(RadosConfig) (Bus, error)

// ErrNoCeph is OpenRados's answer in a build without the ceph tag.
var ErrNoCeph = errors.New("gateway: this atgtd was built without Ceph support (build tag ceph)")

// OpenRados opens the event object c names.
func OpenRados(c RadosConfig) (Bus, error) {
	if openRados == nil {
		return nil, ErrNoCeph
	}
	return openRados(c)
}
