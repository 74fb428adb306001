package target

import (
	"fmt"

	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Defaults of an "rbd" LUN (README "RBD").
const (
	DefaultRBDPool     = "rbd"
	DefaultRBDUser     = "admin"
	DefaultRBDCephConf = "/etc/ceph/ceph.conf"
	// DefaultRBDWorkers: each worker is one synchronous librbd request, so the
	// workers are the queue depth the cluster sees; a network round trip per IO
	// needs many more in flight than a local disk does.
	DefaultRBDWorkers = 32
)

// openRBD opens an "rbd" LUN's image; gateways says several nodes serve it (port
// groups: the image must have the exclusive-lock feature), and warn hears what the
// backend serves despite. It is nil in a binary built without the `ceph` tag
// (rbd_ceph.go sets it), so that such a binary needs no Ceph libraries.
var openRBD func(l *pb.Lun, gateways bool, warn func(string)) (backend.Backend, error)

// defaultRBD gives an "rbd" LUN's unset fields their defaults.
func defaultRBD(l *pb.Lun) {
	if l.Backend != "rbd" {
		return
	}
	if l.Rbd == nil {
		l.Rbd = &pb.Rbd{}
	}
	if l.Rbd.Pool == "" {
		l.Rbd.Pool = DefaultRBDPool
	}
	if l.Rbd.User == "" {
		l.Rbd.User = DefaultRBDUser
	}
	if l.Rbd.CephConf == "" {
		l.Rbd.CephConf = DefaultRBDCephConf
	}
	if l.Workers == 0 && !lun.OneWorker(l.IoPolicy) {
		l.Workers = DefaultRBDWorkers
	}
}

// badRBD checks the RBD side of a LUN named lf and returns the bad field and why, or
// "". images holds the images of the config's LUNs so far (by field).
func badRBD(l *pb.Lun, images map[string]string, lf string) (field, msg string) {
	if l.Backend != "rbd" {
		if l.Rbd != nil {
			return lf + ".rbd", fmt.Sprintf("set on a LUN with backend %q: only an \"rbd\" LUN has an image", l.Backend)
		}
		return "", ""
	}
	switch {
	case openRBD == nil:
		return lf + ".backend", `"rbd": this atgtd was built without the ceph build tag (build it with -tags ceph, README "RBD")`
	case l.Rbd.Image == "":
		return lf + ".rbd.image", "an rbd LUN needs an image name"
	case l.SizeBytes != 0:
		return lf + ".sizeBytes", "must be unset on an rbd LUN: the size is the image's (rbd resize changes it)"
	case l.Path != "":
		return lf + ".path", "must be unset on an rbd LUN: the image is named by rbd"
	case l.DirectIo:
		return lf + ".directIo", "not for an rbd LUN (it has no page cache to bypass)"
	}
	key := fmt.Sprintf("%s|%s|%s/%s/%s", l.Rbd.CephConf, l.Rbd.User, l.Rbd.Pool, l.Rbd.Namespace, l.Rbd.Image)
	if other, dup := images[key]; dup {
		return lf + ".rbd.image", fmt.Sprintf("%s/%s is also used by %s", l.Rbd.Pool, l.Rbd.Image, other)
	}
	images[key] = lf
	return "", ""
}

// watchSize makes a LUN whose store is resized from outside (an RBD image) report
// the new capacity: the store's callback runs on its own goroutine, and the change
// is applied under the admin lock on another, so that closing the store (under
// that lock) never waits for it.
func (s *Service) watchSize(lv *liveLUN) {
	w, ok := lv.raw.(backend.SizeWatcher)
	if !ok {
		return
	}
	w.OnResize(func(size int64) { go s.sizeChanged(lv, size) })
}

// sizeChanged tells a LUN that is still served its store's new size: the LUN sets
// its capacity and establishes CAPACITY DATA HAS CHANGED.
func (s *Service) sizeChanged(lv *liveLUN, size int64) {
	// Under the change lock, as a change: in order with an administrator's resize,
	// and never with a removal's forget or the stop.
	s.admin.lock <- struct{}{}
	defer func() { <-s.admin.lock }()
	if s.admin.stopping || s.live[lv.key] != lv || s.routes == nil || s.system == nil {
		return
	}
	pid := s.routes.Lookup(lv.key.Target, lv.key.LUN)
	if pid == nil {
		return
	}
	blocks := uint64(size) / uint64(lv.blockSize)
	s.system.Root.Send(pid, &lun.Resize{Blocks: blocks, Done: func() {}})
	lv.set.setCopyTarget(lv.naa, &scsidev.CopyTarget{BlockSize: lv.blockSize, Blocks: blocks, ReadOnly: lv.readOnly})
	s.log.Info("LUN store resized from outside", "target", lv.set.name, "lun", lv.key.LUN, "bytes", size)
}
