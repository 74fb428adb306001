package zerocopy

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sender writes a connection's PDUs with file pages among them: bytes with sendmsg,
// file ranges with sendfile. One per connection writer; not for concurrent use.
type Sender struct {
	sock syscall.RawConn
	iov  []unix.Iovec
}

// NewSender returns a sender for nc, or nil if nc is not a socket the kernel can
// send file pages to (sendfile needs a TCP or Unix stream socket).
func NewSender(nc net.Conn) *Sender {
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &Sender{sock: rc}
}

// ErrShortFile means the file ended before the range to send did (it was
// truncated behind the target's back); the PDU on the wire is then incomplete.
var ErrShortFile = errors.New("zerocopy: file shorter than the range to send")

// WriteMore sends bufs with MSG_MORE: the kernel holds a partial segment back for
// the file pages that follow, as TCP_CORK would, without a setsockopt per PDU.
func (s *Sender) WriteMore(bufs [][]byte) error {
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	if len(bufs) == 0 {
		return nil
	}
	var opErr error
	err := s.sock.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			n, e := s.sendmsg(int(fd), bufs, unix.MSG_MORE|unix.MSG_NOSIGNAL)
			switch e {
			case nil:
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			default:
				opErr = e
				return true
			}
			bufs = consume(bufs, n)
		}
		return true
	})
	if err != nil {
		return err
	}
	return opErr
}

// sendmsg sends as many of bufs as one call takes (at most IOV_MAX buffers).
func (s *Sender) sendmsg(fd int, bufs [][]byte, flags int) (int, error) {
	bufs = bufs[:min(len(bufs), 1024)]
	s.iov = s.iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		s.iov = append(s.iov, v)
	}
	var msg unix.Msghdr
	msg.Iov = &s.iov[0]
	msg.SetIovlen(len(s.iov))
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	clear(s.iov) // no stale pointers keep buffers alive
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// consume drops the first n bytes from bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	return bufs
}

// SendFile sends n bytes of src from off with sendfile: the socket takes references
// to the page cache pages instead of a copy of them.
func (s *Sender) SendFile(src *Source, off int64, n int) error {
	var opErr error
	err := s.sock.Write(func(sfd uintptr) bool {
		for n > 0 {
			var w int
			var e error
			if cerr := src.rc.Control(func(ffd uintptr) {
				w, e = unix.Sendfile(int(sfd), int(ffd), &off, n)
			}); cerr != nil {
				opErr = cerr
				return true
			}
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
				return false // off moved by what was sent before the socket filled
			case e != nil:
				opErr = e
				return true
			case w == 0:
				opErr = ErrShortFile
				return true
			}
			n -= w
		}
		return true
	})
	if err != nil {
		return err
	}
	return opErr
}
