package portal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/atgt/atgt/actors/session"
)

// bhsLength is the iSCSI Basic Header Segment's length: the first PDU's header must
// be whole before a connection gets its actors.
const bhsLength = 48

// holding is the set of a listener's connections that wait for their first header,
// shared by every incarnation of the listener actor.
type holding struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newHolding() *holding { return &holding{conns: map[net.Conn]struct{}{}} }

// add records c; false if the listener has stopped (c is then closed).
func (h *holding) add(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.Close()
		return false
	}
	h.conns[c] = struct{}{}
	return true
}

func (h *holding) remove(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// closeAll closes every held connection (the listener stops).
func (h *holding) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.conns {
		c.Close()
	}
	clear(h.conns)
}

// await holds a connection just accepted at `at` until the first PDU header has
// arrived, then hands it to the session manager. A connection that sends nothing, or
// part of a header and then nothing, costs only this goroutine (a small stack: it
// waits in Go's poller with no buffer) and its socket, not a session and a
// connection actor with their reader, until the login timeout closes it (a failed
// login, reported to the limits). A peer that closes or fails first is handed over
// as well, and its connection actor sees the end of the stream as before.
func (p *listener) await(root *actor.RootContext, c net.Conn, sc syscall.Conn, at time.Time) {
	if !p.held.add(c) {
		return
	}
	handed := false
	defer func() {
		p.held.remove(c)
		if r := recover(); r != nil {
			p.log.Warn("waiting for a first header panicked; closing the connection", "reason", fmt.Sprint(r),
				"stack", string(debug.Stack()))
			handed = false
		}
		if !handed {
			c.Close()
		}
	}()
	err := waitHeader(c, sc, at.Add(p.loginTimeout))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.log.Info("login timeout before a first header; closing connection", "remote", c.RemoteAddr().String(),
			"timeout", p.loginTimeout)
		if p.limits != nil {
			p.limits.LoginFailed(c.RemoteAddr())
		}
		return
	case errors.Is(err, net.ErrClosed):
		return // the listener stopped
	case errors.Is(err, errPeerClosed):
		return // a port probe: nothing sent
	}
	_ = c.SetReadDeadline(time.Time{})
	handed = true
	root.Send(p.manager, &session.Accepted{Conn: c, At: at})
}

// errPeerClosed reports a peer that closed without sending a byte.
var errPeerClosed = errors.New("closed by the peer before sending")

// waitHeader returns nil once c has a whole header to read, its peer has finished
// sending (after part of one) or the socket fails (the reader then sees why);
// errPeerClosed if the peer closed without a byte; the deadline's error if it passes
// first. It peeks, so the bytes stay for the reader.
func waitHeader(c net.Conn, sc syscall.Conn, deadline time.Time) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil
	}
	var buf [bhsLength]byte
	var result error
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			return false // nothing yet: wait for the poller
		case err != nil, n >= bhsLength:
			return true
		case n == 0:
			result = errPeerClosed
			return true
		}
		// Part of a header: wait for the rest, unless the peer has shut down its
		// side (the poller wakes us for that too).
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if k, err := unix.Poll(fds, 0); err == nil && k > 0 &&
			fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0 {
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	return result
}
