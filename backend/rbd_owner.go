//go:build ceph

package backend

// #include <errno.h>
// #include <rbd/librbd.h>
import "C"

// Who holds the image's exclusive lock, for the ALUA model of several gateways
// (actors/gateway's Locator maps the holder to its port group).

// rbdMaxLockOwners bounds the owners asked for: an exclusive lock has one.
const rbdMaxLockOwners = 4

// LockOwners names the RADOS clients holding the image's exclusive lock, as the
// cluster records them on the image's header ("127.0.0.1:0/899201612", the
// client's address with its nonce; one RADOS read, about 0.2 ms on the test
// cluster); none when the lock is free.
func (b *rbdBackend) LockOwners() ([]string, error) {
	// The read may block for as long as the cluster does not answer (the
	// client has no OSD op timeout: it is the one IO goes through). It does not
	// hold the backend's lock meanwhile, which would hold Close and, behind
	// Close's wait for it, every IO; the handle's users count keeps the image
	// open until it returns.
	if err := b.use("lock owners", false, 0, noRange); err != nil {
		return nil, err
	}
	h := b.h
	h.users.Add(1)
	b.done()
	defer h.users.Done()
	var mode C.rbd_lock_mode_t
	var owners [rbdMaxLockOwners]*C.char
	n := C.size_t(len(owners))
	ret := C.rbd_lock_get_owners(h.image, &mode, &owners[0], &n)
	switch {
	case ret == -C.ENOENT:
		return nil, nil
	case ret < 0:
		return nil, b.errno("lock owners", C.ssize_t(ret))
	}
	defer C.rbd_lock_get_owners_cleanup(&owners[0], n)
	out := make([]string, 0, int(n))
	for i := range int(n) {
		out = append(out, C.GoString(owners[i]))
	}
	return out, nil
}

// LockClient names this backend's RADOS client as LockOwners names a holder
// (rados_getaddrs when the client was made; a reconnect makes a new one).
func (b *rbdBackend) LockClient() (string, error) { return b.ClientAddr(), nil }
