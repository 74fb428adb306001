package conn

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// withRemote makes every connection look as if its initiator ran on another CPU (or on
// this one) for the test.
func withRemote(t *testing.T, remote bool) {
	old := remoteCPU
	remoteCPU = func(int) bool { return remote }
	t.Cleanup(func() { remoteCPU = old })
}

// TestSpinnerWaitsForData: a warm spinner whose initiator is on another CPU spins
// until the command arrives, and no longer.
func TestSpinnerWaitsForData(t *testing.T) {
	withRemote(t, true)
	server, client := tcpPair(t)
	s := newSpinner(server, 5*time.Second, nil)
	go func() {
		time.Sleep(20 * time.Millisecond)
		client.Write([]byte("x")) //nolint:errcheck
	}()
	start := time.Now()
	s.wait()
	took := time.Since(start)
	if took < 15*time.Millisecond || took > 4*time.Second {
		t.Fatalf("wait took %v: want it to end when the data came (after 20ms)", took)
	}
	if s.peeks < 2 {
		t.Fatalf("%d peeks: the spinner did not spin", s.peeks)
	}
	if spinning.Load() {
		t.Fatal("the spinner did not give up its turn")
	}
}

// TestSpinnerBudget: with nothing coming, a spinner gives up after its budget, and a
// wait that went past the budget makes the next one park at once.
func TestSpinnerBudget(t *testing.T) {
	withRemote(t, true)
	server, _ := tcpPair(t)
	s := newSpinner(server, 5*time.Millisecond, nil)
	start := time.Now()
	s.wait()
	if took := time.Since(start); took < 5*time.Millisecond {
		t.Fatalf("gave up after %v, before the 5ms budget", took)
	}
	s.arrived(time.Second) // the command came long after
	peeks := s.peeks
	s.wait()
	if s.peeks != peeks {
		t.Fatalf("a cold spinner peeked %d times", s.peeks-peeks)
	}
	s.arrived(time.Millisecond) // a short gap: warm again
	s.wait()
	if s.peeks == peeks {
		t.Fatal("a spinner warmed by a short gap did not spin")
	}
}

// TestSpinnerSameCPU: an initiator on the reader's own CPU is not spun for: the spin
// would only take its CPU.
func TestSpinnerSameCPU(t *testing.T) {
	withRemote(t, false)
	server, _ := tcpPair(t)
	s := newSpinner(server, time.Second, nil)
	start := time.Now()
	s.wait()
	if s.peeks != 1 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("%d peeks in %v: want one peek and no spin", s.peeks, time.Since(start))
	}
}

// TestSpinnerOneAtATime: while one reader spins, another parks at once.
func TestSpinnerOneAtATime(t *testing.T) {
	withRemote(t, true)
	server, _ := tcpPair(t)
	s := newSpinner(server, time.Second, nil)
	spinning.Store(true)
	defer spinning.Store(false)
	s.wait()
	if s.peeks != 0 {
		t.Fatalf("a second spinner peeked %d times", s.peeks)
	}
}

// TestSpinnerOff: a budget of 0 (reader_spin_microseconds: 0) or a connection that
// is no socket has no spinner, and its wait does nothing.
func TestSpinnerOff(t *testing.T) {
	server, _ := tcpPair(t)
	if s := newSpinner(server, 0, nil); s != nil {
		t.Fatal("a zero budget made a spinner")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if s := newSpinner(a, time.Millisecond, nil); s != nil {
		t.Fatal("a pipe made a spinner")
	}
	var s *spinner
	s.wait()
	s.arrived(time.Second)
}

// TestOtherCPU: with the initiator's writes made on one CPU, the check answers
// "other" from a thread on the other CPU and "same" from a thread on that CPU.
func TestOtherCPU(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Fatal("this test needs two CPUs")
	}
	server, client := tcpPair(t)
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// onCPU runs f on a thread pinned to cpu.
	onCPU := func(cpu int, f func()) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Error(err)
				return
			}
			f()
		}()
		<-done
	}
	check := func(cpu int) (other bool) {
		onCPU(cpu, func() { raw.Control(func(fd uintptr) { other = otherCPU(int(fd)) }) }) //nolint:errcheck
		return other
	}
	buf := make([]byte, 1)
	onCPU(0, func() { client.Write([]byte("x")) }) //nolint:errcheck
	server.Read(buf)                               //nolint:errcheck
	if check(0) {
		t.Error("a reader on the initiator's CPU was told the initiator is elsewhere")
	}
	if !check(1) {
		t.Error("a reader on the other CPU was told the initiator is on its CPU")
	}
}

// TestSpinnerQueue: a connection with more than one task in flight is not spun for:
// its initiator keeps a queue, and the responses still to come wake it anyway.
func TestSpinnerQueue(t *testing.T) {
	withRemote(t, true)
	server, _ := tcpPair(t)
	var inFlight atomic.Int64
	inFlight.Store(2)
	s := newSpinner(server, time.Second, &inFlight)
	s.wait()
	if s.peeks != 0 {
		t.Fatalf("spun (%d peeks) with 2 tasks in flight", s.peeks)
	}
	inFlight.Store(1)
	s = newSpinner(server, time.Millisecond, &inFlight)
	s.wait()
	if s.peeks == 0 {
		t.Fatal("did not spin with one task in flight")
	}
}
