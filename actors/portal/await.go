package portal

import (
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// bhsLength is the iSCSI Basic Header Segment's length: the first PDU's header must
// be whole before a connection gets its actors.
const bhsLength = 48

// holdTick bounds how late the holder notices a login timeout or its own stop.
const holdTick = 100 * time.Millisecond

// holder keeps a listener's accepted connections until each has sent a whole first
// PDU header, then hands it over (to the session manager). The connections wait in
// one epoll instance (edge-triggered, as Go's own poller) served by one goroutine,
// so that a connection that sends nothing, or part of a header and then nothing,
// costs its socket and a few hundred bytes: no goroutine, no buffer, no actor. One
// that does not send a header within the login timeout of its accept is closed (a
// failed login). The bytes are only peeked: the connection's reader reads them.
type holder struct {
	log       hclog.Logger
	timeout   time.Duration
	handOver  func(c net.Conn, at time.Time)
	onTimeout func(c net.Conn)
	epfd      int

	mu      sync.Mutex
	byToken map[uint32]*heldConn
	fifo    []*heldConn // in accept order, which is deadline order
	head    int
	next    uint32
	closed  bool // the listener stopped
	failed  bool // the loop ended on an error: connections are handed over at once
}

// heldConn is one connection the holder keeps.
type heldConn struct {
	c     net.Conn
	fd    int
	at    time.Time
	token uint32
	gone  bool // handed over or closed
}

// newHolder starts a holder; nil if epoll is not available (connections are then
// handed over at once).
func newHolder(log hclog.Logger, timeout time.Duration, handOver func(net.Conn, time.Time), onTimeout func(net.Conn)) *holder {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Warn("epoll unavailable: connections get their actors before their first header", "error", err)
		return nil
	}
	h := &holder{log: log, timeout: timeout, handOver: handOver, onTimeout: onTimeout, epfd: epfd,
		byToken: map[uint32]*heldConn{}}
	go h.loop()
	return h
}

// add holds c, accepted at at. It returns false if c cannot be held (not a socket,
// or the holder stopped); the caller then hands it over itself, unless stopped
// reports that the holder closed it.
func (h *holder) add(c net.Conn, at time.Time) (held, stopped bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return false, false
	}
	h.mu.Lock()
	if h.failed {
		h.mu.Unlock()
		return false, false
	}
	if h.closed {
		h.mu.Unlock()
		c.Close()
		return false, true
	}
	h.next++
	e := &heldConn{c: c, fd: fd, at: at, token: h.next}
	h.byToken[e.token] = e
	h.fifo = append(h.fifo, e)
	h.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(e.token)}
	if err := unix.EpollCtl(h.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		h.take(e)
		return false, false
	}
	return true, false
}

// take removes e from the holder; false if it was gone already.
func (h *holder) take(e *heldConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.gone {
		return false
	}
	e.gone = true
	delete(h.byToken, e.token)
	return true
}

// release takes e out of epoll (before anyone else may close its socket and reuse
// the descriptor) and out of the holder; false if it was gone already.
func (h *holder) release(e *heldConn) bool {
	if !h.take(e) {
		return false
	}
	_ = unix.EpollCtl(h.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
	return true
}

// loop waits for the held connections' events and their deadlines until the
// holder stops.
func (h *holder) loop() {
	defer unix.Close(h.epfd)
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("connection holder panicked; held connections are closed, new ones get their actors at once",
				"reason", fmt.Sprint(r), "stack", string(debug.Stack()))
			h.fail()
		}
	}()
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(h.epfd, events, int(holdTick/time.Millisecond))
		if err != nil && err != unix.EINTR {
			h.log.Error("epoll_wait failed; held connections are closed, new ones get their actors at once", "error", err)
			h.fail()
			return
		}
		for i := range n {
			h.check(uint32(events[i].Fd), events[i].Events)
		}
		h.expire(time.Now())
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			return
		}
	}
}

// check looks at a held connection its socket signalled: it is handed over once a
// whole header is there, or the peer has finished sending or failed (the reader
// then sees why); closed if the peer left without a byte.
func (h *holder) check(token uint32, events uint32) {
	h.mu.Lock()
	e := h.byToken[token]
	h.mu.Unlock()
	if e == nil {
		return
	}
	var buf [bhsLength]byte
	n, _, err := syscall.Recvfrom(e.fd, buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return
	case err == nil && n == 0: // closed by the peer before a byte: a port probe
		if h.release(e) {
			e.c.Close()
		}
		return
	case err == nil && n < bhsLength && events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0:
		return // part of a header: wait for the rest
	}
	if h.release(e) {
		h.handOver(e.c, e.at)
	}
}

// expire closes the held connections whose login timeout has passed.
func (h *holder) expire(now time.Time) {
	var late []*heldConn
	h.mu.Lock()
	for h.head < len(h.fifo) {
		e := h.fifo[h.head]
		if !e.gone && now.Sub(e.at) < h.timeout {
			break
		}
		h.fifo[h.head] = nil
		h.head++
		if !e.gone {
			late = append(late, e)
		}
	}
	if h.head > 64 && h.head*2 > len(h.fifo) {
		h.fifo = append(h.fifo[:0], h.fifo[h.head:]...)
		h.head = 0
	}
	h.mu.Unlock()
	for _, e := range late {
		if h.release(e) {
			h.onTimeout(e.c)
		}
	}
}

// stop closes every held connection; the loop ends within holdTick.
func (h *holder) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.dropAll()
}

// fail gives up holding: the held connections are closed (their initiators retry)
// and new ones are handed over at once, as if there were no holder.
func (h *holder) fail() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed = true
	h.dropAll()
}

// dropAll closes every held connection (h.mu held).
func (h *holder) dropAll() {
	for _, e := range h.byToken {
		e.gone = true
		e.c.Close()
	}
	clear(h.byToken)
	h.fifo, h.head = nil, 0
}

// held reports how many connections wait, for tests.
func (h *holder) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byToken)
}
