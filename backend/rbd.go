//go:build ceph

package backend

// #cgo LDFLAGS: -lrbd -lrados
// #include <errno.h>
// #include <stdlib.h>
// #include <rados/librados.h>
// #include <rbd/librbd.h>
import "C"

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ceph/go-ceph/rados"
)

// The RBD backend serves a Ceph RBD image through librbd (built with `-tags ceph`).
//
// Guarantees:
//   - librbd's client-side cache is turned off for the backend's connection
//     (rbd_cache=false, whatever ceph.conf says; an image whose pool or image
//     config would turn it back on is refused: rbd_guard.go), so a write that returns has been
//     committed by the OSDs (their write-ahead log): every acknowledged write is
//     durable in the cluster and visible to every other client, a gateway killed
//     with SIGKILL loses nothing it acknowledged, and a peer gateway that takes
//     over reads it. FUA and WCE=0 writes additionally carry librados' FUA flag,
//     and SYNCHRONIZE CACHE is rbd_flush, which then has nothing left to write:
//     the durability of the file backend (RWF_DSYNC, fdatasync), at least.
//   - COMPARE AND WRITE is librbd's compare-and-write, atomic in the cluster
//     (against every gateway), for the ranges librbd takes: Ceph 16 (Pacific)
//     takes one aligned 512-byte sector (VMware's ATS heartbeat and locks are one
//     such block), newer releases more, within one RADOS object. Other ranges
//     fall back to the LUN's read-compare-write, atomic only against this
//     gateway's commands; the first range librbd refuses as too long sets the
//     limit for the rest of the connection.
//   - UNMAP is rbd_discard with partial discards not skipped
//     (rbd_skip_partial_discard=false), so an unmapped range reads back as zeros;
//     WRITE SAME is rbd_writesame (the block is sent once).
//   - The capacity is the image's: a resize from outside (`rbd resize`, another
//     gateway) is noticed within rbdSizePoll and reported through SizeWatcher, so
//     the LUN answers CAPACITY DATA HAS CHANGED; Resize resizes the image.
//   - Concurrency: each call is one asynchronous librbd request the calling
//     goroutine waits for (rbd_aio.go), so the LUN's workers (32 by default on an
//     RBD LUN) are the queue depth the cluster sees, and no OS thread blocks in
//     librbd for them. Runs of merged IO are one rbd_aio_readv or rbd_aio_writev.
//   - Fenced off: when the cluster blocklists the backend's client (another
//     gateway broke its exclusive lock), what it held fails and is never
//     resubmitted, later calls fail with ErrFenced, and Reconnect opens the image
//     on a new client (Fenceable, rbd_fence.go).

// RBDOptions names an RBD image and how to reach its cluster.
type RBDOptions struct {
	// Pool and Namespace hold the image; Image is its name.
	Pool, Namespace, Image string
	// User is the cephx user without "client." ("admin").
	User string
	// CephConf is the ceph.conf to read (monitors, keyring).
	CephConf string
	// ReadOnly opens the image read-only; writes fail with ErrReadOnly.
	ReadOnly bool
	// Gateways: several gateway nodes serve the image (port groups), so it must
	// have the exclusive-lock feature (rbd_guard.go).
	Gateways bool
	// Warn, if set, hears what the backend serves despite (rbd_guard.go); it may
	// be called from the poller's goroutine.
	Warn func(msg string)
}

// rbdSizePoll is how often the backend looks at the image's size; librbd refreshes
// it from the header's watch, so the look is a local one.
const rbdSizePoll = time.Second

// rbdFUA is librados' FUA flag for a write that must be durable when it returns.
const rbdFUA = C.LIBRADOS_OP_FLAG_FADVISE_FUA

// rbdBackend is an open RBD image.
type rbdBackend struct {
	name     string // pool/namespace/image, for errors
	opts     RBDOptions
	h        *rbdHandle // the client and image IO goes to; swapped by Reconnect
	readOnly bool
	size     atomic.Int64
	objSize  int64 // RADOS object size: a compare-and-write must not cross one
	// cawMax is the longest compare-and-write librbd has not refused (0: no
	// limit known yet).
	cawMax atomic.Int64
	// mu guards the handle: IO holds it shared, Close and Reconnect exclusively.
	mu     sync.RWMutex
	closed bool
	// fenced is set once the client is found blocklisted, until Reconnect swaps
	// the handle (rbd_fence.go); calls then fail with ErrFenced.
	fenced atomic.Bool
	// noLock: a gateways' image lost its exclusive-lock feature; writes fail
	// with ErrNoExclusiveLock (rbd_guard.go).
	noLock atomic.Bool
	// badConfig: the image's config skips partial discards; Unmap is refused.
	// configCheck: a look at the config is running (rbd_guard.go).
	badConfig, configCheck atomic.Bool
	onFenced               atomic.Pointer[func(error)]
	// suspect wakes the poller to look at once whether the client is fenced.
	suspect  chan struct{}
	reMu     sync.Mutex // one Reconnect at a time
	stop     chan struct{}
	pollDone chan struct{}
	onResize atomic.Pointer[func(int64)]
	// resizeMu orders Resize against the poller, so a resize of its own is never
	// reported as one from outside.
	resizeMu sync.Mutex
}

// rbdHandle is one RADOS client with the image open on it.
type rbdHandle struct {
	conn  *rados.Conn
	ioctx *rados.IOContext
	image C.rbd_image_t
	aio   *aioRing
	addr  string // the client's address, as `ceph osd blocklist` shows it
	// users are the calls made without the backend's lock (LockOwners); close
	// waits for them.
	users sync.WaitGroup
}

// rbdConfig is what every connection of the backend sets: no client cache (see the
// guarantees above), partial discards zeroed, no admin socket (every LUN's
// connection would want the same one), and writes sent from the caller's buffer
// without a copy: each request's buffer stays pinned and unchanged until librbd
// completes it, and with no cache librbd keeps nothing after that (12% less CPU per
// GB of 128 KiB writes).
var rbdConfig = map[string]string{"rbd_cache": "false", "rbd_skip_partial_discard": "false", "admin_socket": "",
	"rbd_disable_zero_copy_writes": "false"}

// OpenRBD connects to the cluster and opens the image. The connection is the
// backend's own (one per LUN); Close ends it.
func OpenRBD(o RBDOptions) (Backend, error) {
	name := rbdName(o)
	h, err := openRBDHandle(o, rbdConfig)
	if err != nil {
		return nil, pathErr("open", "rbd:"+name, err)
	}
	b := &rbdBackend{name: name, opts: o, h: h, readOnly: o.ReadOnly, suspect: make(chan struct{}, 1),
		stop: make(chan struct{}), pollDone: make(chan struct{})}
	size, err := b.imageSize()
	if err == nil {
		b.size.Store(size)
		b.objSize, err = b.objectSize()
	}
	if err != nil {
		h.close()
		return nil, pathErr("stat", "rbd:"+name, err)
	}
	go b.poll()
	return b, nil
}

// openRBDHandle makes a new RADOS client with config set, and opens the image on it.
func openRBDHandle(o RBDOptions, config map[string]string) (*rbdHandle, error) {
	conn, ioctx, err := RadosDial(o.User, o.CephConf, o.Pool, o.Namespace, config)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	h := &rbdHandle{conn: conn, ioctx: ioctx, addr: RadosAddr(ioctx)}
	cname := C.CString(o.Image)
	defer C.free(unsafe.Pointer(cname))
	io := C.rados_ioctx_t(ioctx.Pointer())
	var ret C.int
	if o.ReadOnly {
		ret = C.rbd_open_read_only(io, cname, &h.image, nil)
	} else {
		ret = C.rbd_open(io, cname, &h.image, nil)
	}
	if ret < 0 {
		ioctx.Destroy()
		conn.Shutdown()
		return nil, fmt.Errorf("open image: %w", syscall.Errno(-ret))
	}
	if err := checkImage(o, h.image); err != nil {
		C.rbd_close(h.image)
		ioctx.Destroy()
		conn.Shutdown()
		return nil, err
	}
	if h.aio, err = newAIORing(); err != nil {
		C.rbd_close(h.image)
		ioctx.Destroy()
		conn.Shutdown()
		return nil, err
	}
	return h, nil
}

// close closes the image (releasing its exclusive lock, if held) and ends the
// client; every request must have finished.
func (h *rbdHandle) close() C.int {
	h.users.Wait()
	ret := C.rbd_close(h.image)
	h.aio.close()
	h.ioctx.Destroy()
	h.conn.Shutdown()
	return ret
}

// errno turns a negative librbd return into an error naming op and the image.
func (b *rbdBackend) errno(op string, ret C.ssize_t) error {
	if ret >= 0 {
		return nil
	}
	if ret == -C.ESHUTDOWN { // EBLOCKLISTED: is the client fenced off?
		b.suspectFence()
	}
	return pathErr(op, "rbd:"+b.name, syscall.Errno(-ret))
}

// noRange is use's length for a call without a range (Sync, locks).
const noRange = math.MinInt64

// use takes the handle for one call and checks the range; done releases it.
func (b *rbdBackend) use(op string, write bool, off, n int64) error {
	b.mu.RLock()
	switch {
	case b.closed:
		b.mu.RUnlock()
		return pathErr(op, "rbd:"+b.name, ErrClosed)
	case write && b.readOnly:
		b.mu.RUnlock()
		return pathErr(op, "rbd:"+b.name, ErrReadOnly)
	case b.fenced.Load():
		b.mu.RUnlock()
		return pathErr(op, "rbd:"+b.name, ErrFenced)
	case write && b.noLock.Load():
		b.mu.RUnlock()
		return pathErr(op, "rbd:"+b.name, ErrNoExclusiveLock)
	}
	if n != noRange {
		size := b.size.Load()
		if write {
			// librbd's own size, which its header watch updates before the
			// poller sees it: an aio write answers 0, not its length, so one
			// that librbd clipped at the end of an image shrunk from outside
			// would be GOOD with its tail dropped (and Ceph 16 can abort on
			// one: an ObjectMap assertion).
			var live C.uint64_t
			if C.rbd_get_size(b.h.image, &live) == 0 && int64(live) < size {
				size = int64(live)
			}
		}
		if err := checkRange(off, n, size); err != nil {
			b.mu.RUnlock()
			return pathErr(op, "rbd:"+b.name, err)
		}
	}
	return nil
}

func (b *rbdBackend) done() { b.mu.RUnlock() }

// ReadAt reads p from the image; unwritten ranges read as zeros.
func (b *rbdBackend) ReadAt(p []byte, off int64) (int, error) {
	if err := b.use("read", false, off, int64(len(p))); err != nil {
		return 0, err
	}
	defer b.done()
	if len(p) == 0 {
		return 0, nil
	}
	ret := b.h.aio.do(b.h.image, aioRead, aioArgs{off: uint64(off), length: uint64(len(p)), buf: p}).ret
	if err := b.errno("read", C.ssize_t(ret)); err != nil {
		return 0, fencedRead(err)
	}
	if int(ret) < len(p) { // past the end of a shrinking image: zeros
		clear(p[ret:])
	}
	return len(p), nil
}

// WriteAt writes p; stable adds the FUA flag (the write is durable anyway: no
// client cache).
func (b *rbdBackend) WriteAt(p []byte, off int64, stable bool) error {
	if err := b.use("write", true, off, int64(len(p))); err != nil {
		return err
	}
	defer b.done()
	if len(p) == 0 {
		return nil
	}
	var flags C.int
	if stable {
		flags = rbdFUA
	}
	ret := b.h.aio.do(b.h.image, aioWrite, aioArgs{off: uint64(off), length: uint64(len(p)), buf: p, flags: flags}).ret
	return b.errno("write", C.ssize_t(ret))
}

// Size is the image's size as last seen (polled every rbdSizePoll).
func (b *rbdBackend) Size() int64 { return b.size.Load() }

// Sync is rbd_flush: every write completed before it is durable.
func (b *rbdBackend) Sync() error {
	if err := b.use("sync", false, 0, noRange); err != nil {
		return err
	}
	defer b.done()
	return b.errno("sync", C.ssize_t(b.h.aio.do(b.h.image, aioFlush, aioArgs{}).ret))
}

// Unmap discards the range; it reads back as zeros (partial discards zero).
func (b *rbdBackend) Unmap(off, length int64) error {
	if err := b.use("unmap", true, off, length); err != nil {
		return err
	}
	defer b.done()
	if length == 0 {
		return nil
	}
	if b.badConfig.Load() {
		return pathErr("unmap", "rbd:"+b.name, ErrUnsafeImageConfig)
	}
	ret := b.h.aio.do(b.h.image, aioDiscard, aioArgs{off: uint64(off), length: uint64(length)}).ret
	return b.errno("unmap", C.ssize_t(ret))
}

// Close stops the size watch, closes the image (releasing its exclusive lock, if
// held) and ends the connection. Later calls fail with ErrClosed.
func (b *rbdBackend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return pathErr("close", "rbd:"+b.name, ErrClosed)
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.pollDone
	if b.fenced.Load() {
		b.h.retire() // a fenced client is not waited for
		return nil
	}
	return b.errno("close", C.ssize_t(b.h.close()))
}

// String names the image, for logs.
func (b *rbdBackend) String() string { return "rbd:" + b.name }
