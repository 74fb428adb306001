package main

// Attaching a LUN to this machine's kernel, which has no iSCSI initiator, so that a
// real kernel file system can be built on it: qemu-storage-daemon logs in with
// QEMU's iSCSI block driver (libiscsi) and exports the LUN as a FUSE file, and a
// loop device turns that file into a block device. The nbd module, the shorter way
// through qemu-nbd --connect, is not loadable here (no /dev/nbd*, no modprobe).
//
// The loop device reads and writes the FUSE file through the page cache (FUSE
// writes through to the LUN at once), except for read-only benchmarks, which
// attach it with direct IO so that no page cache on this side answers a read. A
// direct-IO loop device lost writes here: mke2fs through one left a file system
// that would not mount, and 4 KiB buffered writes flushed through it never reached
// the target (Linux 6.18, QEMU 7.2), so it is used for reads only.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// attached is a LUN as a block device with an ext2 file system on it, mounted.
type attached struct {
	qsd    *exec.Cmd
	loop   string // /dev/loopN
	mnt    string
	fuse   string
	qsdLog string
}

// attach logs in to url and mounts its LUN at dir/mnt: with mkfs it first builds a
// fresh ext2 with 4 KiB blocks (the paper's file system), otherwise it mounts the
// one there; readOnly mounts it read-only over a direct-IO loop device.
func attach(ctx context.Context, url, dir string, mkfs, readOnly bool) (*attached, error) {
	for _, tool := range []string{"qemu-storage-daemon", "losetup", "mke2fs", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: install it with scripts/install-bench-deps.sh", tool)
		}
	}
	u, err := parseISCSIURL(url)
	if err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(u.Addr, ":")
	a := &attached{fuse: filepath.Join(dir, "lun.fuse"), mnt: filepath.Join(dir, "mnt"), qsdLog: filepath.Join(dir, "qsd.log")}
	if err := os.WriteFile(a.fuse, nil, 0o600); err != nil { // FUSE mounts over a file
		return nil, err
	}
	if err := os.MkdirAll(a.mnt, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(a.qsdLog)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	a.qsd = exec.Command("qemu-storage-daemon",
		"--blockdev", fmt.Sprintf("driver=iscsi,node-name=lun,transport=tcp,portal=%s:%s,target=%s,lun=%d,initiator-name=%s",
			host, port, u.Target, u.LUN, "iqn.2026-11.dev.atgt:atgtbench-fs"),
		"--export", "type=fuse,id=fuse0,node-name=lun,mountpoint="+a.fuse+",writable=on")
	a.qsd.Stdout, a.qsd.Stderr = logFile, logFile
	a.qsd.SysProcAttr = childAttr()
	if err := a.qsd.Start(); err != nil {
		return nil, err
	}
	// The export is up once the file has the LUN's size.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Stat(a.fuse); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) || a.qsd.ProcessState != nil {
			a.detach()
			b, _ := os.ReadFile(a.qsdLog)
			return nil, fmt.Errorf("qemu-storage-daemon did not export %s: %s", url, strings.TrimSpace(string(b)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	loopArgs := []string{"-f", "--show", a.fuse}
	if readOnly {
		loopArgs = []string{"-f", "--show", "--direct-io=on", "--read-only", a.fuse}
	}
	out, err := exec.CommandContext(ctx, "losetup", loopArgs...).CombinedOutput()
	if err != nil {
		a.detach()
		return nil, fmt.Errorf("losetup: %v: %s", err, out)
	}
	a.loop = strings.TrimSpace(string(out))
	mountArgs := []string{"-t", "ext2", a.loop, a.mnt}
	if readOnly {
		mountArgs = append([]string{"-o", "ro"}, mountArgs...)
	}
	if mkfs {
		if out, err := exec.CommandContext(ctx, "mke2fs", "-q", "-t", "ext2", "-b", "4096", "-F", a.loop).CombinedOutput(); err != nil {
			a.detach()
			return nil, fmt.Errorf("mke2fs: %v: %s", err, out)
		}
	}
	if out, err := exec.CommandContext(ctx, "mount", mountArgs...).CombinedOutput(); err != nil {
		a.detach()
		return nil, fmt.Errorf("mount: %v: %s", err, out)
	}
	return a, nil
}

// detach unmounts (writing everything back to the target), frees the loop device
// and stops qemu-storage-daemon, undoing whatever attach did.
func (a *attached) detach() error {
	var errs []error
	if a.loop != "" {
		if out, err := exec.Command("umount", a.mnt).CombinedOutput(); err != nil && !strings.Contains(string(out), "not mounted") {
			errs = append(errs, fmt.Errorf("umount: %v: %s", err, out))
		}
		if out, err := exec.Command("losetup", "-d", a.loop).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("losetup -d: %v: %s", err, out))
		}
		a.loop = ""
	}
	if a.qsd != nil && a.qsd.Process != nil {
		a.qsd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone
		done := make(chan struct{})
		go func() { a.qsd.Wait(); close(done) }() //nolint:errcheck
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			a.qsd.Process.Kill() //nolint:errcheck
			<-done
		}
		a.qsd = nil
	}
	return errors.Join(errs...)
}

// memCgroup is a memory cgroup made for one benchmark process: the knob that sets
// how much page cache the process may hold (cgroup v2's memory.max, or v1's
// memory.limit_in_bytes where the v1 memory controller is mounted, as here).
type memCgroup struct{ dir, limitFile string }

// newMemCgroup makes a child cgroup named name with a memory limit of limit bytes.
func newMemCgroup(name string, limit int64) (*memCgroup, error) {
	cg := &memCgroup{}
	switch {
	case fileExists("/sys/fs/cgroup/cgroup.controllers"):
		cg.dir, cg.limitFile = filepath.Join("/sys/fs/cgroup", name), "memory.max"
	case fileExists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
		cg.dir, cg.limitFile = filepath.Join("/sys/fs/cgroup/memory", name), "memory.limit_in_bytes"
	default:
		return nil, errors.New("no cgroup memory controller under /sys/fs/cgroup")
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cg.dir, cg.limitFile), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		cg.remove()
		return nil, fmt.Errorf("cgroup limit: %w", err)
	}
	return cg, nil
}

// add moves a process (all its threads) into the cgroup.
func (cg *memCgroup) add(pid int) error {
	return os.WriteFile(filepath.Join(cg.dir, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0o644)
}

// remove deletes the cgroup once its processes have ended; charged page cache moves
// to the parent.
func (cg *memCgroup) remove() {
	for range 50 {
		if err := os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
