package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// clientResult is what one run of an independent client measured.
type clientResult struct {
	IOPS    float64
	Bytes   float64 // bytes moved (estimated for iscsi-perf: average IOPS x size x run time)
	Elapsed time.Duration
	CPU     float64 // the client process's user+system seconds
	// Busy is iscsi-perf's count of commands answered BUSY (re-issued, and
	// taken out of IOPS here).
	Busy int
}

// processCPU is a finished process's user+system seconds (NaN if unknown).
func processCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return math.NaN()
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// selfCPU is this process's user+system seconds so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// runISCSIPerf runs `iscsi-perf -m qd -b blocks [-r] URL` for d, stops it with
// SIGINT (it runs until then) and returns its last "iops average" less the commands
// answered BUSY per second: iscsi-perf counts a BUSY answer as an IO and issues the
// command again. (It also re-issues a command answered UNIT ATTENTION, uncounted in
// its output; a target raises that once per nexus, not per IO.)
func runISCSIPerf(ctx context.Context, url string, qd, blocks int, random bool, d time.Duration, blockSize int) (clientResult, string, error) {
	args := []string{"-m", strconv.Itoa(qd), "-b", strconv.Itoa(blocks)}
	if random {
		args = append(args, "-r")
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, "iscsi-perf", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return clientResult{}, "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done: // ended on its own: an error
		return clientResult{}, out.String(), fmt.Errorf("iscsi-perf ended early: %v", err)
	case <-time.After(d):
	}
	elapsed := time.Since(start)
	cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill() //nolint:errcheck
		<-done
	}
	iops, busy, err := parsePerfAverage(out.String())
	if err != nil {
		return clientResult{}, out.String(), err
	}
	iops = max(0, iops-float64(busy)/elapsed.Seconds())
	return clientResult{IOPS: iops, Bytes: iops * float64(blocks*blockSize) * elapsed.Seconds(), Elapsed: elapsed,
		CPU: processCPU(cmd), Busy: busy}, out.String(), nil
}

// runQemuBench runs `qemu-img bench -f raw -t none -d qd -s size -c count [-w]
// [extra...] URL` and returns count / run time.
func runQemuBench(ctx context.Context, url string, qd, size, count int, write bool, extra ...string) (clientResult, string, error) {
	args := []string{"bench", "-f", "raw", "-t", "none", "-d", strconv.Itoa(qd), "-s", strconv.Itoa(size), "-c", strconv.Itoa(count)}
	if write {
		args = append(args, "-w")
	}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return clientResult{}, string(out), fmt.Errorf("qemu-img bench: %v", err)
	}
	secs, err := parseQemuBench(string(out))
	if err != nil {
		return clientResult{}, string(out), err
	}
	return clientResult{IOPS: float64(count) / secs, Bytes: float64(count) * float64(size),
		Elapsed: time.Duration(secs * float64(time.Second)), CPU: processCPU(cmd)}, string(out), nil
}

// runIperf3 measures one TCP stream over loopback for d with iperf3, if installed;
// it returns bytes per second.
func runIperf3(ctx context.Context, d time.Duration) (float64, error) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		return 0, errNotInstalled
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	srv := exec.CommandContext(ctx, "iperf3", "-s", "-1", "-p", strconv.Itoa(port))
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }() //nolint:errcheck
	var out []byte
	for try := 0; try < 20; try++ {
		time.Sleep(200 * time.Millisecond)
		out, err = exec.CommandContext(ctx, "iperf3", "-c", "127.0.0.1", "-p", strconv.Itoa(port),
			"-t", strconv.Itoa(max(1, int(d.Seconds())))).CombinedOutput()
		if err == nil {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("iperf3: %v: %s", err, out)
	}
	bps, err := parseIperf3(string(out))
	return bps / 8, err
}

var errNotInstalled = fmt.Errorf("not installed")
