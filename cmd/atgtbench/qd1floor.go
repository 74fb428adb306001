package main

// The floors of `atgtbench qd1`: what a round trip costs with no target at all (a
// loopback TCP ping-pong between two processes) and what a stable 4 KiB write costs
// with no target (pwrite and fdatasync, or pwritev2 with RWF_DSYNC, called directly
// on the backing file).

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// echoEnv, set in a child's environment, makes atgtbench (or its test binary) the
// ping-pong's echo process instead of itself.
const echoEnv = "ATGTBENCH_QD1_ECHO"

// pingShape is one ping-pong: request and reply sizes, and where the two processes
// run.
type pingShape struct {
	Name      string
	Req, Resp int
	Place     placement
}

// placement is where a ping-pong's two processes may run.
type placement int

const (
	anyCPU  placement = iota // wherever the scheduler puts them, as the targets run
	oneCPU                   // both on CPU 0: every wake-up is a switch on that CPU
	twoCPUs                  // this process on CPU 0, the echo on CPU 1: every wake-up crosses
)

// pingShapes: sockperf's shape (4 KiB both ways) and the two shapes of an iSCSI
// command at QD1 (a 48-byte BHS each way, plus 4 KiB of data one way); then a READ's
// shape with both processes pinned to one CPU and to two, which shows what a
// wake-up across CPUs costs (unpinned runs land on either side); last a command
// without data (SYNCHRONIZE CACHE), for the floor of write + SYNC CACHE.
var pingShapes = []pingShape{
	{Name: "TCP ping-pong 4 KiB both ways", Req: 4096, Resp: 4096},
	{Name: "TCP ping-pong 48 B -> 4 KiB+48 B (a READ's shape)", Req: 48, Resp: 4096 + 48},
	{Name: "TCP ping-pong 4 KiB+48 B -> 48 B (a WRITE's shape)", Req: 4096 + 48, Resp: 48},
	{Name: "TCP ping-pong READ's shape, both on one CPU", Req: 48, Resp: 4096 + 48, Place: oneCPU},
	{Name: "TCP ping-pong READ's shape, on two CPUs", Req: 48, Resp: 4096 + 48, Place: twoCPUs},
	{Name: "TCP ping-pong 48 B -> 48 B (a SYNC CACHE's shape)", Req: 48, Resp: 48},
}

// Which pingShapes and syncFloors make up each case's floor (goalFloor).
const (
	pingRead, pingWrite, pingNoData      = 1, 2, 5
	syncPwrite, syncFdatasync, syncDsync = 0, 1, 2
)

// pinProcess sets the CPU affinity of every thread of process pid (threads made
// later inherit it from their maker); no cpus means every CPU.
func pinProcess(pid int, cpus ...int) error {
	var set unix.CPUSet
	if len(cpus) == 0 {
		for i := range runtime.NumCPU() {
			set.Set(i)
		}
	}
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d: %w", tid, err)
		}
	}
	return nil
}

// clientCPUs are the CPUs this process runs on for the whole run (-place); none
// means every CPU. The pinned floor rows put it back there.
var clientCPUs []int

// place pins this process and the echo process as p asks and returns the undo.
func (e *echoProc) place(p placement) (func(), error) {
	self, echo := os.Getpid(), e.cmd.Process.Pid
	undo := func() {
		pinProcess(self, clientCPUs...) //nolint:errcheck // best effort
		pinProcess(echo)                //nolint:errcheck
	}
	var err error
	switch p {
	case anyCPU:
		return func() {}, nil
	case oneCPU:
		if err = pinProcess(self, 0); err == nil {
			err = pinProcess(echo, 0)
		}
	case twoCPUs:
		if runtime.NumCPU() < 2 {
			return nil, fmt.Errorf("one CPU only: no placement across CPUs")
		}
		if err = pinProcess(self, 0); err == nil {
			err = pinProcess(echo, 1)
		}
	}
	if err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}

// echoMain is the echo process: it prints its port, then on each connection reads an
// 8-byte header (request size, reply size) and answers every request with a reply,
// until the connection or its stdin (the parent) closes.
func echoMain() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("port %d\n", l.Addr().(*net.TCPAddr).Port)
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }() //nolint:errcheck // the parent is gone
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			var hdr [8]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			req := make([]byte, binary.BigEndian.Uint32(hdr[:4]))
			resp := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
			for {
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}()
	}
}

// echoProc is a running echo process.
type echoProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startEcho starts this executable as the echo process.
func startEcho() (*echoProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	cmd.SysProcAttr = childAttr()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &echoProc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "port ")
	if err != nil || !ok {
		e.stop()
		return nil, fmt.Errorf("echo process: no port (%q, %v)", line, err)
	}
	e.addr = "127.0.0.1:" + port
	return e, nil
}

func (e *echoProc) stop() {
	e.stdin.Close()
	e.cmd.Process.Kill() //nolint:errcheck // ours
	e.cmd.Wait()         //nolint:errcheck
}

// pingPong times n round trips of shape s with the echo process, after a warm-up.
func (e *echoProc) pingPong(s pingShape, n int) ([]time.Duration, error) {
	undo, err := e.place(s.Place)
	if err != nil {
		return nil, err
	}
	defer undo()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(s.Req))
	binary.BigEndian.PutUint32(hdr[4:], uint32(s.Resp))
	if _, err := c.Write(hdr[:]); err != nil {
		return nil, err
	}
	req, resp := make([]byte, s.Req), make([]byte, s.Resp)
	lat := make([]time.Duration, 0, n)
	c.SetDeadline(time.Now().Add(time.Minute + time.Duration(n)*time.Millisecond)) //nolint:errcheck
	for i := -min(100, n); i < n; i++ {
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return nil, err
		}
		if i >= 0 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}

// syncFloor is one way of making a 4 KiB write stable directly on the file.
type syncFloor struct {
	Name string
	Run  func(fd int, buf []byte, off int64) error
}

var syncFloors = []syncFloor{
	{Name: "direct pwrite 4K (no sync)", Run: func(fd int, buf []byte, off int64) error {
		_, err := unix.Pwrite(fd, buf, off)
		return err
	}},
	{Name: "direct pwrite 4K + fdatasync", Run: func(fd int, buf []byte, off int64) error {
		if _, err := unix.Pwrite(fd, buf, off); err != nil {
			return err
		}
		return unix.Fdatasync(fd)
	}},
	{Name: "direct pwritev2 4K RWF_DSYNC", Run: func(fd int, buf []byte, off int64) error {
		_, err := unix.Pwritev2(fd, [][]byte{buf}, off, unix.RWF_DSYNC)
		return err
	}},
}

// runSyncFloor times n calls of f at random 4 KiB-aligned offsets of file.
func runSyncFloor(file string, f syncFloor, n int, seed uint64) ([]time.Duration, error) {
	fd, err := unix.Open(file, unix.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	slots := uint64(st.Size) / qd1IOSize
	if slots == 0 {
		return nil, fmt.Errorf("%s: smaller than 4 KiB", file)
	}
	rng := rand.New(rand.NewPCG(seed, 0xf5c))
	buf := make([]byte, qd1IOSize)
	for i := range buf {
		buf[i] = byte(i*11 + 3)
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		off := int64(rng.Uint64N(slots)) * qd1IOSize
		t0 := time.Now()
		if err := f.Run(fd, buf, off); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// fsName names the file system a path is on, for the report.
func fsName(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "?"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return "fs 0x" + strconv.FormatInt(int64(st.Type), 16)
}
