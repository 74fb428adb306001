package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// clkTck is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is 100 on
// every Linux architecture Go supports.
const clkTck = 100

// parseProcStat returns utime+stime in seconds from the contents of /proc/PID/stat.
// The command name (field 2) may contain spaces and parentheses, so the fields are
// counted from the last ')'.
func parseProcStat(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("procstat: no ')' after the command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: utime: %v", err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: stime: %v", err)
	}
	return float64(ut+st) / clkTck, nil
}

// cpuSeconds reads the CPU time (user+system, all threads) of process pid.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

var perfAvgRE = regexp.MustCompile(`iops average (\d+)`)
var perfBusyRE = regexp.MustCompile(`busy (\d+)`)

// parsePerfAverage returns the last "iops average N" figure of iscsi-perf's output
// (lines separated by \r as well as \n) and the last "busy N" (0 if none): the
// commands answered BUSY so far, which iscsi-perf (libiscsi 1.19) re-issues and
// still counts in its IOPS.
func parsePerfAverage(out string) (iops float64, busy int, err error) {
	m := perfAvgRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, 0, errors.New(`iscsi-perf: no "iops average" in its output`)
	}
	v, err := strconv.ParseFloat(m[len(m)-1][1], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("iscsi-perf: %v", err)
	}
	if b := perfBusyRE.FindAllStringSubmatch(out, -1); len(b) > 0 {
		if busy, err = strconv.Atoi(b[len(b)-1][1]); err != nil {
			return 0, 0, fmt.Errorf("iscsi-perf: busy: %v", err)
		}
	}
	return v, busy, nil
}

var qemuRunRE = regexp.MustCompile(`Run completed in ([0-9.]+) seconds`)

// parseQemuBench returns the run time in seconds from qemu-img bench's output.
func parseQemuBench(out string) (float64, error) {
	m := qemuRunRE.FindStringSubmatch(out)
	if m == nil {
		return 0, errors.New(`qemu-img bench: no "Run completed in X seconds" in its output`)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("qemu-img bench: bad run time %q", m[1])
	}
	return v, nil
}

// parseIperf3 returns the receiver's bits per second from the text output of
// `iperf3 -c`: the last line that ends in "receiver".
func parseIperf3(out string) (float64, error) {
	var last string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), "receiver") {
			last = l
		}
	}
	if last == "" {
		return 0, errors.New("iperf3: no receiver summary line")
	}
	f := strings.Fields(last)
	for i := 1; i < len(f); i++ {
		if strings.HasSuffix(f[i], "bits/sec") {
			v, err := strconv.ParseFloat(f[i-1], 64)
			if err != nil {
				return 0, fmt.Errorf("iperf3: %v", err)
			}
			switch f[i][0] {
			case 'K':
				v *= 1e3
			case 'M':
				v *= 1e6
			case 'G':
				v *= 1e9
			case 'T':
				v *= 1e12
			}
			return v, nil
		}
	}
	return 0, errors.New("iperf3: no bits/sec figure in the receiver line")
}

// iscsiURL is a parsed iscsi://HOST:PORT/IQN/LUN.
type iscsiURL struct {
	Addr   string
	Target string
	LUN    uint64
}

func parseISCSIURL(u string) (iscsiURL, error) {
	rest, ok := strings.CutPrefix(u, "iscsi://")
	if !ok {
		return iscsiURL{}, fmt.Errorf("%q: not an iscsi:// URL", u)
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:] // user%password@ is for libiscsi's CHAP; not used here
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return iscsiURL{}, fmt.Errorf("%q: want iscsi://HOST:PORT/IQN/LUN", u)
	}
	addr := parts[0]
	if !strings.Contains(addr, ":") || strings.HasSuffix(addr, "]") {
		addr += ":3260"
	}
	lun, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil || lun > 16383 {
		return iscsiURL{}, fmt.Errorf("%q: bad LUN %q", u, parts[2])
	}
	return iscsiURL{Addr: addr, Target: parts[1], LUN: lun}, nil
}
