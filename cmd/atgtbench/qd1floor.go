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
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// echoEnv, set in a child's environment, makes atgtbench (or its test binary) the
// ping-pong's echo process instead of itself.
const echoEnv = "ATGTBENCH_QD1_ECHO"

// pingShape is one ping-pong: request and reply sizes.
type pingShape struct {
	Name      string
	Req, Resp int
}

// pingShapes: sockperf's shape (4 KiB both ways) and the two shapes of an iSCSI
// command at QD1 (a 48-byte BHS each way, plus 4 KiB of data one way).
var pingShapes = []pingShape{
	{Name: "TCP ping-pong 4 KiB both ways", Req: 4096, Resp: 4096},
	{Name: "TCP ping-pong 48 B -> 4 KiB+48 B (a READ's shape)", Req: 48, Resp: 4096 + 48},
	{Name: "TCP ping-pong 4 KiB+48 B -> 48 B (a WRITE's shape)", Req: 4096 + 48, Resp: 48},
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
