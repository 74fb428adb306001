package conn

import (
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A reader that serves one command at a time (a database's commit, a VM's boot, dd)
// waits for the next command awake for a moment instead of parking in Go's poller.
// On a virtual machine a parked thread's CPU halts, and the wakeup that the next
// command's arrival then needs, an interrupt to another CPU, cost about 20 µs here:
// more than the whole command inside the target. Spinning is a poor bargain in three
// cases, which the spinner avoids:
//
//   - the initiator runs on the same CPU (a loopback client): the spin would only
//     take its CPU. SO_INCOMING_CPU names the CPU that took the connection's last
//     packet, which for loopback is the sender's;
//   - the connection is busy (its reads find data) or idle (its gaps are long): it
//     spins only while the last wait ended within the budget;
//   - the connection has more than one task in flight: its initiator keeps a queue,
//     and the responses still to come wake it anyway;
//   - another connection is spinning: one spinner at a time, so that spinning never
//     costs more than one CPU and never holds back Go's poller (and the connections
//     it wakes) for longer than one budget.
type spinner struct {
	rc     syscall.RawConn
	budget time.Duration
	// warm: the last wait for data ended within the budget.
	warm bool
	// inFlight is the connection's count of tasks in flight (Stats); nil: unknown.
	inFlight *atomic.Int64
	// peeks counts the socket peeks of all waits (tests).
	peeks int
}

// remoteCPU is otherCPU; tests replace it.
var remoteCPU = otherCPU

// spinning is held by the one reader that spins now.
var spinning atomic.Bool

// newSpinner returns nc's spinner, or nil when budget is 0 or nc is no socket.
func newSpinner(nc net.Conn, budget time.Duration, inFlight *atomic.Int64) *spinner {
	sc, ok := nc.(syscall.Conn)
	if !ok || budget <= 0 {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &spinner{rc: rc, budget: budget, warm: true, inFlight: inFlight}
}

// wait spins until the socket is readable or the budget is spent, yielding to the
// process's other goroutines between peeks, when the last wait was short, the
// initiator's packets come in on another CPU and no other reader spins. The caller
// then reads as usual (and parks if nothing came).
func (s *spinner) wait() {
	if s == nil || !s.warm || s.queued() || !spinning.CompareAndSwap(false, true) {
		return
	}
	defer spinning.Store(false)
	start := time.Now()
	var b [1]byte
	first := true
	for {
		readable, remote := false, true
		s.rc.Read(func(fd uintptr) bool { //nolint:errcheck // a failed socket reads as readable: the read reports it
			if first {
				remote = remoteCPU(int(fd))
			}
			s.peeks++
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			readable = err != syscall.EAGAIN
			return true
		})
		first = false
		if readable || !remote || s.queued() {
			return
		}
		if time.Since(start) > s.budget {
			return
		}
		runtime.Gosched()
	}
}

// queued reports whether the connection has more than one task in flight.
func (s *spinner) queued() bool { return s.inFlight != nil && s.inFlight.Load() > 1 }

// arrived takes how long the read after wait waited in all, so that the next wait
// spins only if this one was short.
func (s *spinner) arrived(waited time.Duration) {
	if s != nil {
		s.warm = waited <= s.budget
	}
}

// otherCPU reports whether the socket's last packet came in on a CPU other than the
// one this thread runs on (true when either is unknown).
func otherCPU(fd int) bool {
	in, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_INCOMING_CPU)
	if err != nil || in < 0 {
		return true
	}
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return true
	}
	return uint32(in) != cpu
}
