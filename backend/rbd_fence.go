//go:build ceph

package backend

// A gateway's client fenced off by the cluster, and how it comes back (Fenceable).
//
// When another gateway's librbd takes the image's exclusive lock from this node
// because it stopped answering (hung, or cut off), it blocklists this node's RADOS
// client: every OSD refuses it from then on, so that none of its writes can land after
// the new owner's. The same happens when an administrator blocklists the client (`ceph
// osd blocklist add ADDR`). librbd on the blocklisted client never recovers: reads fail
// with ESHUTDOWN (EBLOCKLISTED), writes and flushes wait for an exclusive lock they can
// never take again (Ceph 16), and rbd_close waits for those. So:
//
//   - Detection: any librbd call answering ESHUTDOWN, and the poller, which asks
//     librbd every rbdSizePoll whether it holds the lock (a local call that answers
//     ESHUTDOWN once librbd knows it is blocklisted), mark the backend fenced.
//   - Fenced: every call fails with ErrFenced without reaching librbd. Requests the
//     old client still holds that write (writes, flushes, discards) are failed at once
//     with ESHUTDOWN and never resubmitted: they stay failed, as the blocklist makes
//     them. librbd keeps their buffers' addresses, but cannot send them (blocklisted),
//     and their completions, if any ever came, are dropped.
//   - Reconnect, called by the owner (actors/lun) once nothing admitted before the
//     fence can still reach the backend: a new RADOS client (a new instance, so a new
//     address nonce the blocklist does not cover) opens the image again, with bounded
//     retries and backoff while the cluster cannot be reached. The new client does
//     not hold the lock: the next write through this node takes it back, as after a
//     fail back.
//   - The old client cannot be closed while librbd holds writes on it (rbd_close
//     waits for them), so it is then left open, its writes failed. It can never send
//     them: once blocklisted, librbd does not watch the image again, and without a
//     watch it cannot take the exclusive lock that writes need, even after the
//     blocklist entry expires (Ceph's default is an hour; measured with a 15 s entry:
//     a write held by the old client was still unsent 40 s after the entry expired,
//     and rbd_lock_acquire on it answers ESHUTDOWN). Renewing the entry is not an
//     option on Ceph 16: adding an address already listed leaves its expiry as it was.

// #include <errno.h>
// #include <rbd/librbd.h>
import "C"

import (
	"fmt"
	"syscall"
	"time"
)

const (
	// rbdReconnectMin and rbdReconnectMax bound the pause between attempts to reach
	// the cluster again (doubling from the one to the other).
	rbdReconnectMin = 500 * time.Millisecond
	rbdReconnectMax = 30 * time.Second
	// rbdConnectTimeout bounds one attempt's wait for the monitors.
	rbdConnectTimeout = "30"
)

// ClientAddr is the address of the backend's RADOS client, as `ceph osd blocklist`
// names it.
func (b *rbdBackend) ClientAddr() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.h.addr
}

// OnFenced sets the function told when the client is found fenced; if it is fenced
// already, f is told at once (a LUN that attaches late must not miss it).
func (b *rbdBackend) OnFenced(f func(cause error)) {
	b.onFenced.Store(&f)
	if b.fenced.Load() {
		go f(fmt.Errorf("rbd:%s: RADOS client blocklisted by the cluster", b.name))
	}
}

// suspectFence has the poller look at once whether the client is fenced (a call
// answered ESHUTDOWN).
func (b *rbdBackend) suspectFence() {
	select {
	case b.suspect <- struct{}{}:
	default:
	}
}

// checkFence asks librbd whether the client is blocklisted, and fences the backend
// if it is; it reports whether the backend is fenced.
func (b *rbdBackend) checkFence() bool {
	if b.fenced.Load() {
		return true
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return false
	}
	var owner C.int
	ret := C.rbd_is_exclusive_lock_owner(b.h.image, &owner)
	h := b.h
	b.mu.RUnlock()
	if ret != -C.ESHUTDOWN {
		return false
	}
	b.fence(h)
	return true
}

// fence marks the backend fenced, fails what the old client holds that writes, and
// tells the owner (or reconnects at once when there is none).
func (b *rbdBackend) fence(h *rbdHandle) {
	if !b.fenced.CompareAndSwap(false, true) {
		return
	}
	n := h.aio.abandonWrites(-int64(C.ESHUTDOWN))
	cause := fmt.Errorf("rbd:%s: RADOS client %s blocklisted by the cluster; %d writes it held failed", b.name, h.addr, n)
	if f := b.onFenced.Load(); f != nil {
		(*f)(cause)
		return
	}
	go b.Reconnect(nil, nil)
}

// Reconnect opens the image on a new RADOS client once the backend is fenced (see
// the comment at the top); failed, if not nil, hears each failed attempt and the
// pause before the next.
func (b *rbdBackend) Reconnect(stop <-chan struct{}, failed func(err error, next time.Duration)) error {
	b.reMu.Lock()
	defer b.reMu.Unlock()
	if !b.fenced.Load() {
		return nil
	}
	b.mu.RLock()
	old := b.h
	b.mu.RUnlock()
	config := map[string]string{"client_mount_timeout": rbdConnectTimeout, "rados_mon_op_timeout": rbdConnectTimeout}
	for k, v := range rbdConfig {
		config[k] = v
	}
	delay := rbdReconnectMin
	for {
		h, err := b.reopen(config)
		if err == nil {
			// Waits for the calls on the old client still in librbd: reads,
			// which fail at once on a blocklisted client.
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				h.close()
				return pathErr("reconnect", "rbd:"+b.name, ErrClosed)
			}
			b.h = h
			b.fenced.Store(false)
			b.mu.Unlock()
			old.retire()
			return nil
		}
		if failed != nil {
			failed(err, delay)
		}
		select {
		case <-stop:
			return err
		case <-b.stop:
			return pathErr("reconnect", "rbd:"+b.name, ErrClosed)
		case <-time.After(delay):
		}
		delay = min(2*delay, rbdReconnectMax)
	}
}

// reopen makes the new client and opens the image on it.
func (b *rbdBackend) reopen(config map[string]string) (*rbdHandle, error) {
	h, err := openRBDHandle(b.opts, config)
	if err != nil {
		return nil, pathErr("reconnect", "rbd:"+b.name, err)
	}
	var size C.uint64_t
	if ret := C.rbd_get_size(h.image, &size); ret < 0 {
		h.close()
		return nil, pathErr("reconnect", "rbd:"+b.name, syscall.Errno(-ret))
	}
	if b.size.Load() != int64(size) {
		b.suspectFence() // the poller reports the new size
	}
	return h, nil
}

// retire lets a fenced client go: closed in the background when librbd holds none
// of its requests, else left open (rbd_close would wait for ever for the writes
// librbd holds; the client is blocklisted, so they cannot land).
func (h *rbdHandle) retire() {
	if h.aio.orphaned() {
		return
	}
	go h.close()
}
