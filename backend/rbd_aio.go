//go:build ceph

package backend

// Every librbd request is asynchronous here: a caller submits it (a short cgo call
// that never blocks on the cluster), then parks on a channel until librbd's callback
// reports it done. A blocking cgo call would instead hold one of the few Ps of the
// Go runtime (atgtd runs Go code on half the CPUs) until sysmon took it back, and
// every return would wake a thread to hand it over again. librbd's callback runs on
// librbd's own threads: it only queues (id, result) in C and, when the queue was
// empty, writes an eventfd, which one goroutine per image waits for in Go's
// netpoller and then drains in one cgo call. No C thread ever calls into Go.

// #include <errno.h>
// #include <pthread.h>
// #include <stdint.h>
// #include <stdlib.h>
// #include <unistd.h>
// #include <sys/eventfd.h>
// #include <sys/uio.h>
// #include <rbd/librbd.h>
//
// typedef struct { uint64_t id; int64_t ret; uint64_t mismatch; } rbd_done_t;
// typedef struct {
//	pthread_mutex_t mu;
//	int efd;
//	rbd_done_t *q;
//	size_t n, cap;
// } rbd_ring_t;
// typedef struct { rbd_ring_t *ring; uint64_t id; uint64_t mismatch; } rbd_req_t;
//
// static rbd_ring_t *rbd_ring_new(void) {
//	rbd_ring_t *g = calloc(1, sizeof(*g));
//	if (!g) return NULL;
//	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
//	if (g->efd < 0) { free(g); return NULL; }
//	pthread_mutex_init(&g->mu, NULL);
//	return g;
// }
// static int rbd_ring_fd(rbd_ring_t *g) { return g->efd; }
// static void rbd_ring_free(rbd_ring_t *g) { pthread_mutex_destroy(&g->mu); free(g->q); free(g); }
//
// static void rbd_cb(rbd_completion_t c, void *arg) {
//	rbd_req_t *r = arg;
//	rbd_ring_t *g = r->ring;
//	rbd_done_t d = { r->id, rbd_aio_get_return_value(c), r->mismatch };
//	rbd_aio_release(c);
//	free(r);
//	pthread_mutex_lock(&g->mu);
//	if (g->n == g->cap) {
//		size_t cap = g->cap ? 2 * g->cap : 64;
//		rbd_done_t *q = realloc(g->q, cap * sizeof(*q));
//		if (!q) { pthread_mutex_unlock(&g->mu); abort(); }
//		g->q = q; g->cap = cap;
//	}
//	g->q[g->n++] = d;
//	int wake = g->n == 1;
//	pthread_mutex_unlock(&g->mu);
//	if (wake) { uint64_t one = 1; ssize_t w = write(g->efd, &one, sizeof(one)); (void)w; }
// }
//
// // rbd_ring_take moves up to max finished requests into out and returns how many.
// static size_t rbd_ring_take(rbd_ring_t *g, rbd_done_t *out, size_t max) {
//	pthread_mutex_lock(&g->mu);
//	size_t n = g->n < max ? g->n : max;
//	for (size_t i = 0; i < n; i++) out[i] = g->q[i];
//	for (size_t i = n; i < g->n; i++) g->q[i - n] = g->q[i];
//	g->n -= n;
//	pthread_mutex_unlock(&g->mu);
//	return n;
// }
//
// enum { RBD_READ, RBD_WRITE, RBD_READV, RBD_WRITEV, RBD_FLUSH, RBD_DISCARD, RBD_WRITESAME, RBD_CMPWRITE };
//
// // rbd_submit starts one request; a negative return means it never started.
// static int rbd_submit(rbd_image_t img, rbd_ring_t *g, uint64_t id, int op, uint64_t off, uint64_t len,
//		char *buf, char *buf2, size_t n2, const struct iovec *iov, int iovcnt, int flags) {
//	rbd_req_t *r = malloc(sizeof(*r));
//	if (!r) return -ENOMEM;
//	r->ring = g; r->id = id; r->mismatch = 0;
//	rbd_completion_t c;
//	int ret = rbd_aio_create_completion(r, rbd_cb, &c);
//	if (ret < 0) { free(r); return ret; }
//	switch (op) {
//	case RBD_READ: ret = rbd_aio_read2(img, off, len, buf, c, flags); break;
//	case RBD_WRITE: ret = rbd_aio_write2(img, off, len, buf, c, flags); break;
//	case RBD_READV: ret = rbd_aio_readv(img, iov, iovcnt, off, c); break;
//	case RBD_WRITEV: ret = rbd_aio_writev(img, iov, iovcnt, off, c); break;
//	case RBD_FLUSH: ret = rbd_aio_flush(img, c); break;
//	case RBD_DISCARD: ret = rbd_aio_discard(img, off, len, c); break;
//	case RBD_WRITESAME: ret = rbd_aio_writesame(img, off, len, buf, n2, c, flags); break;
//	case RBD_CMPWRITE: ret = rbd_aio_compare_and_write(img, off, len, buf, buf2, c, &r->mismatch, flags); break;
//	default: ret = -EINVAL;
//	}
//	if (ret < 0) { rbd_aio_release(c); free(r); }
//	return ret;
// }
import "C"

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// Request kinds of rbd_submit.
const (
	aioRead      = C.RBD_READ
	aioWrite     = C.RBD_WRITE
	aioReadv     = C.RBD_READV
	aioWritev    = C.RBD_WRITEV
	aioFlush     = C.RBD_FLUSH
	aioDiscard   = C.RBD_DISCARD
	aioWriteSame = C.RBD_WRITESAME
	aioCmpWrite  = C.RBD_CMPWRITE
)

// aioResult is a finished request: librbd's return value, and for a
// compare-and-write that missed, the offset of the first differing byte.
type aioResult struct {
	ret      int64
	mismatch uint64
}

// aioWaiter is a goroutine waiting for its request.
type aioWaiter struct {
	ch    chan aioResult
	write bool // not a read: it may wait for the exclusive lock
}

// aioRing routes librbd's completions of one image to the goroutines waiting.
type aioRing struct {
	ring *C.rbd_ring_t
	efd  *os.File
	mu   sync.Mutex
	next uint64
	wait map[uint64]aioWaiter
	// orphans counts requests abandoned while librbd still held them
	// (abandonWrites): the ring must then never be freed.
	orphans int
	// dead is set by abandonWrites: the client is fenced, and no request is
	// submitted any more (one that registers later is answered ESHUTDOWN).
	dead bool
	pool sync.Pool // chan aioResult, buffered 1
	done chan struct{}
}

// newAIORing makes the ring and starts its goroutine.
func newAIORing() (*aioRing, error) {
	g := C.rbd_ring_new()
	if g == nil {
		return nil, syscall.ENOMEM
	}
	r := &aioRing{ring: g, efd: os.NewFile(uintptr(C.rbd_ring_fd(g)), "rbd-aio-eventfd"),
		wait: map[uint64]aioWaiter{}, done: make(chan struct{})}
	r.pool.New = func() any { return make(chan aioResult, 1) }
	go r.run()
	return r, nil
}

// run waits for the eventfd (in the netpoller) and hands each finished request to
// its waiter, until the eventfd is closed.
func (r *aioRing) run() {
	defer close(r.done)
	var buf [8]byte
	var batch [64]C.rbd_done_t
	for {
		if _, err := r.efd.Read(buf[:]); err != nil {
			return
		}
		for {
			n := int(C.rbd_ring_take(r.ring, &batch[0], C.size_t(len(batch))))
			if n == 0 {
				break
			}
			r.mu.Lock()
			for _, d := range batch[:n] {
				if w, ok := r.wait[uint64(d.id)]; ok {
					delete(r.wait, uint64(d.id))
					w.ch <- aioResult{ret: int64(d.ret), mismatch: uint64(d.mismatch)}
				}
			}
			r.mu.Unlock()
		}
	}
}

// abandonWrites answers every waiting request but reads with ret (a fenced client:
// librbd would hold them for ever) and returns how many it answered; no request is
// submitted after it. librbd keeps the ones it holds: if it ever completes one, the
// completion is dropped. A request registered just before it and submitted just
// after finds its answer waiting.
func (r *aioRing) abandonWrites(ret int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = true
	n := 0
	for id, w := range r.wait {
		if w.write {
			delete(r.wait, id)
			w.ch <- aioResult{ret: ret}
			n++
		}
	}
	r.orphans += n
	return n
}

// orphaned reports whether librbd may still complete a request into the ring.
func (r *aioRing) orphaned() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.orphans > 0
}

// close stops the goroutine; every request must have finished.
func (r *aioRing) close() {
	r.efd.Close()
	<-r.done
	C.rbd_ring_free(r.ring)
}

// aioArgs are a request's arguments beyond its kind.
type aioArgs struct {
	off, length uint64
	buf, buf2   []byte // the data (or the compare data and the data)
	n2          int    // writesame: the length of the block in buf
	iovs        [][]byte
	flags       C.int
}

// do submits one request and waits for it. The Go buffers stay pinned while librbd
// holds them.
func (r *aioRing) do(img C.rbd_image_t, op C.int, a aioArgs) aioResult {
	var pin runtime.Pinner
	defer pin.Unpin()
	ptr := func(p []byte) *C.char {
		if len(p) == 0 {
			return nil
		}
		pin.Pin(&p[0])
		return (*C.char)(unsafe.Pointer(&p[0]))
	}
	buf, buf2 := ptr(a.buf), ptr(a.buf2)
	var iov *C.struct_iovec
	if len(a.iovs) > 0 {
		iov = (*C.struct_iovec)(C.calloc(C.size_t(len(a.iovs)), C.size_t(unsafe.Sizeof(C.struct_iovec{}))))
		if iov == nil {
			return aioResult{ret: -int64(syscall.ENOMEM)}
		}
		defer C.free(unsafe.Pointer(iov))
		v := unsafe.Slice(iov, len(a.iovs))
		for i, p := range a.iovs {
			v[i].iov_base, v[i].iov_len = unsafe.Pointer(ptr(p)), C.size_t(len(p))
		}
	}
	ch := r.pool.Get().(chan aioResult)
	r.mu.Lock()
	if r.dead {
		// Between the backend's fence check and here: never reaches librbd.
		r.mu.Unlock()
		r.pool.Put(ch)
		return aioResult{ret: -int64(syscall.ESHUTDOWN)}
	}
	r.next++
	id := r.next
	r.wait[id] = aioWaiter{ch: ch, write: op != aioRead && op != aioReadv}
	r.mu.Unlock()
	ret := C.rbd_submit(img, r.ring, C.uint64_t(id), op, C.uint64_t(a.off), C.uint64_t(a.length), buf, buf2,
		C.size_t(a.n2), iov, C.int(len(a.iovs)), a.flags)
	if ret < 0 {
		r.mu.Lock()
		delete(r.wait, id)
		r.mu.Unlock()
		r.pool.Put(ch)
		return aioResult{ret: int64(ret)}
	}
	res := <-ch
	r.pool.Put(ch)
	return res
}
