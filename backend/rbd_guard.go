//go:build ceph

package backend

// #include <errno.h>
// #include <stdlib.h>
// #include <rbd/librbd.h>
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// What an image must be for the backend's guarantees (rbd.go) to hold, checked when
// it is opened (and again at every reconnect) and, for what can change while it is
// open, by the poller.
//
//   - The exclusive-lock feature, on an image several gateways serve
//     (RBDOptions.Gateways): it is what serialises their writes, and what fences a
//     hung node (its lock broken, its client blocklisted) so that none of its late
//     writes lands over newer data written through another node. Without it no lock
//     is taken and nobody is ever fenced. Such an image is refused; if the feature is
//     disabled while it is served, writes are refused (ErrNoExclusiveLock, which the
//     LUN answers NOT READY) until it is enabled again. A single-node LUN is served
//     without it (one writer needs no lock), with a warning.
//   - rbd_cache=false and rbd_skip_partial_discard=false as librbd applies them.
//     The backend sets them on its client, but librbd lets the pool's and the image's
//     config (`rbd config pool|image set`, kept as conf_rbd_* metadata) override a
//     client's settings, whatever they are. So the effective values are read back
//     (rbd_config_image_list: the client's, the pool's and the image's layers
//     resolved as librbd resolves them) and an image whose config turns the cache on
//     (acknowledging writes the OSDs do not have yet) or skips partial discards
//     (unmapped ranges that do not read back as zeros) is refused, with the command
//     that fixes it. librbd builds its cache layer only when it opens an image, so a
//     later `rbd config ... rbd_cache true` cannot turn it on under an open image;
//     rbd_skip_partial_discard is read at every discard, so the poller looks at it
//     again (rbdConfigPoll) and Unmap refuses to run while it is set.

// ErrNoExclusiveLock refuses a write to an image served by several gateways that lost
// its exclusive-lock feature: without it, a node's writes are not fenced. It is a
// kind of ErrFenced, so that the LUN answers NOT READY and the initiator retries.
var ErrNoExclusiveLock = fmt.Errorf("%w: the image's exclusive-lock feature is disabled, and gateways need it", ErrFenced)

// ErrUnsafeImageConfig refuses an image whose pool or image config overrides one of
// the backend's guarantees.
var ErrUnsafeImageConfig = errors.New("the image's config breaks a guarantee of the rbd backend")

// rbdRequired are the librbd settings the backend's guarantees need, as librbd
// applies them to the image, and why.
var rbdRequired = []struct{ key, want, why string }{
	{"rbd_cache", "false", "librbd's cache acknowledges writes before the OSDs have them"},
	{"rbd_skip_partial_discard", "false", "UNMAP of a partial object would not read back as zeros"},
}

// rbdConfigPoll is how many polls apart the poller reads the image's config again
// (a RADOS read of the pool's and the image's metadata).
const rbdConfigPoll = 10

// imageFeatures answers librbd's features of the open image (refreshed through
// the header's watch: a local call).
func imageFeatures(image C.rbd_image_t) (uint64, error) {
	var f C.uint64_t
	if ret := C.rbd_get_features(image, &f); ret < 0 {
		return 0, syscall.Errno(-ret)
	}
	return uint64(f), nil
}

// hasExclusiveLock reports whether the features hold exclusive-lock.
func hasExclusiveLock(features uint64) bool { return features&C.RBD_FEATURE_EXCLUSIVE_LOCK != 0 }

// noLockMessage explains a missing exclusive-lock feature and how to enable it.
func noLockMessage(name string) string {
	return fmt.Sprintf("image %s has no exclusive-lock feature: enable it with `rbd feature enable %s exclusive-lock`",
		name, name)
}

// checkLockFeature refuses an image without exclusive-lock served by several
// gateways, and warns of one served by one node.
func checkLockFeature(o RBDOptions, name string, image C.rbd_image_t) error {
	f, err := imageFeatures(image)
	if err != nil {
		return fmt.Errorf("image features: %w", err)
	}
	if hasExclusiveLock(f) || o.ReadOnly {
		return nil
	}
	if o.Gateways {
		return fmt.Errorf("%s; several gateways serve it (port groups), and without the lock their writes "+
			"are neither serialised nor fenced: %w", noLockMessage(name), ErrUnsupported)
	}
	if o.Warn != nil {
		o.Warn(noLockMessage(name) + "; served by this node alone, which is safe only while no other client writes to it")
	}
	return nil
}

// imageConfig reads the effective value of each of keys for the open image, and
// where it was set ("config", "pool" or "image").
func imageConfig(image C.rbd_image_t, keys map[string]bool) (map[string][2]string, error) {
	max := C.int(512)
	for try := 0; ; try++ {
		opts := make([]C.rbd_config_option_t, max)
		ret := C.rbd_config_image_list(image, &opts[0], &max)
		if ret == -C.ERANGE && try < 3 {
			continue // max now says how many there are
		}
		if ret < 0 {
			return nil, syscall.Errno(-ret)
		}
		out := map[string][2]string{}
		for _, o := range opts[:max] {
			k := C.GoString(o.name)
			if keys[k] {
				out[k] = [2]string{C.GoString(o.value), configSource(o.source)}
			}
		}
		C.rbd_config_image_list_cleanup(&opts[0], max)
		return out, nil
	}
}

// configSource names where librbd took a setting from.
func configSource(s C.rbd_config_source_t) string {
	switch s {
	case C.RBD_CONFIG_SOURCE_POOL:
		return "pool"
	case C.RBD_CONFIG_SOURCE_IMAGE:
		return "image"
	}
	return "config"
}

// checkImageConfig refuses an image on which librbd would apply a setting that
// breaks a guarantee, naming it, where it is set, and the command that fixes it.
func checkImageConfig(o RBDOptions, name string, image C.rbd_image_t) error {
	keys := map[string]bool{}
	for _, r := range rbdRequired {
		keys[r.key] = true
	}
	got, err := imageConfig(image, keys)
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	var bad []string
	for _, r := range rbdRequired {
		v, ok := got[r.key]
		if !ok || strings.EqualFold(v[0], r.want) {
			continue
		}
		fix := fmt.Sprintf("`rbd config image set %s %s %s`", name, r.key, r.want)
		if v[1] == "image" {
			fix = fmt.Sprintf("`rbd config image remove %s %s`", name, r.key)
		}
		bad = append(bad, fmt.Sprintf("%s is %s (set in the %s's config; %s): fix with %s", r.key, v[0], v[1], r.why, fix))
	}
	if len(bad) > 0 {
		return fmt.Errorf("image %s: %s: %w", name, strings.Join(bad, "; "), ErrUnsafeImageConfig)
	}
	return nil
}

// checkImage runs the open-time checks on a newly opened image.
func checkImage(o RBDOptions, image C.rbd_image_t) error {
	name := rbdName(o)
	if err := checkLockFeature(o, name, image); err != nil {
		return err
	}
	return checkImageConfig(o, name, image)
}

// rbdName is the image's POOL/[NAMESPACE/]IMAGE spec, as the rbd CLI takes it.
func rbdName(o RBDOptions) string {
	if o.Namespace != "" {
		return o.Pool + "/" + o.Namespace + "/" + o.Image
	}
	return o.Pool + "/" + o.Image
}

// recheck is the poller's look at what may change under an open image: the
// exclusive-lock feature (a local call, every poll) and, every rbdConfigPoll polls,
// the config that decides partial discards. That one reads the pool's and the
// image's metadata from the cluster, so it runs on its own goroutine and without
// the backend's lock (the handle's users count keeps the image open): a cluster
// that does not answer holds neither the poller (fence detection, size) nor Close
// and IO.
func (b *rbdBackend) recheck(n int) {
	b.mu.RLock()
	if b.closed || b.fenced.Load() {
		b.mu.RUnlock()
		return
	}
	h := b.h
	if b.opts.Gateways && !b.readOnly {
		if f, err := imageFeatures(h.image); err == nil {
			lost := !hasExclusiveLock(f)
			if b.noLock.Swap(lost) != lost && b.opts.Warn != nil {
				if lost {
					b.opts.Warn(noLockMessage(b.name) + ": refusing writes until it is enabled again")
				} else {
					b.opts.Warn("image " + b.name + " has its exclusive-lock feature again: writes allowed")
				}
			}
		}
	}
	if n%rbdConfigPoll != 0 || !b.configCheck.CompareAndSwap(false, true) {
		b.mu.RUnlock()
		return
	}
	h.users.Add(1)
	b.mu.RUnlock()
	go func() {
		defer b.configCheck.Store(false)
		defer h.users.Done()
		b.recheckConfig(h)
	}()
}

// recheckConfig reads the image's config on h and refuses UNMAP while it skips
// partial discards.
func (b *rbdBackend) recheckConfig(h *rbdHandle) {
	err := checkImageConfig(b.opts, b.name, h.image)
	if err != nil && !errors.Is(err, ErrUnsafeImageConfig) {
		return // could not look: keep what was known
	}
	bad := err != nil
	if b.badConfig.Swap(bad) != bad && b.opts.Warn != nil {
		if bad {
			b.opts.Warn(err.Error() + "; refusing UNMAP until fixed")
		} else {
			b.opts.Warn("image " + b.name + ": its config is safe again")
		}
	}
}
