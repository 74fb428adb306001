package tests

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// A log consumer that stops reading (a stuck journald, `atgtd 2>&1 | slow-consumer`,
// a container runtime whose log driver stalls) must not stop the storage service:
// atgtd's actors log from their own goroutines, so a log write that blocks would
// leave commands, logins and task management unanswered. Run them with
//
//	go test -count=1 -run 'TestLogSink' ./tests/

// droppedMetric is the counter of log lines atgtd dropped while its output was blocked.
const droppedMetric = "atgt_log_lines_dropped_total"

// pipedDaemon is an atgtd whose stdout and stderr are one pipe, as journald's
// stream or `atgtd 2>&1 | consumer` give it; the test reads the pipe only when it
// says so, and otherwise leaves the writes to fill its buffer (64 KiB on Linux).
type pipedDaemon struct {
	cmd     *exec.Cmd
	r       *os.File // the pipe's read end
	addr    string   // the portal
	metrics string   // the /metrics URL
	done    chan struct{}
	err     error
	out     *lineWriter // what the test read from the pipe
}

// startPipedDaemon starts atgtd at -log-level debug (a line per PDU and per task)
// with -metrics, reads the pipe up to the ready line and then stops reading it.
func startPipedDaemon(t *testing.T) *pipedDaemon {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	path := writeTestConfig(t, oneLunConfig(t, 16<<20))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &pipedDaemon{r: r, done: make(chan struct{}), out: &lineWriter{}}
	d.cmd = exec.Command(atgtdBin, "-config", path, "-admin-socket", "off", "-log-level", "debug",
		"-metrics", "127.0.0.1:0")
	d.cmd.Stdout = w
	d.cmd.Stderr = w
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		r.Close()
	})
	// Byte by byte, so that nothing past the ready line is read ahead.
	rd := bufio.NewReaderSize(oneByteReader{r}, 16)
	deadline := time.AfterFunc(readyTimeout, func() { _ = d.cmd.Process.Kill() })
	defer deadline.Stop()
	for d.addr == "" {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no ready line: %v\n%s", err, d.out)
		}
		_, _ = d.out.Write([]byte(line))
		line = strings.TrimSpace(line)
		if u, ok := strings.CutPrefix(line, "metrics "); ok {
			d.metrics = u
		}
		if a, ok := strings.CutPrefix(line, "ready portal="); ok {
			d.addr = a
		}
	}
	if d.metrics == "" {
		t.Fatalf("no metrics line before ready:\n%s", d.out)
	}
	return d
}

// oneByteReader reads at most one byte per call.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

// dropped is the scraped drop counter, and whether the scrape has it.
func (d *pipedDaemon) dropped(t *testing.T) (float64, bool) {
	t.Helper()
	v, ok := scrape(t, d.metrics)[droppedMetric]
	return v, ok
}

// drain reads the pipe from now on, into d.out.
func (d *pipedDaemon) drain() {
	go func() { _, _ = io.Copy(d.out, d.r) }()
}

// stop sends SIGTERM and fails the test unless atgtd exits 0 within bound.
func (d *pipedDaemon) stop(t *testing.T, bound time.Duration) {
	t.Helper()
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(bound):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Fatalf("atgtd did not stop within %v of SIGTERM with its log output blocked: killed", bound)
	}
	var exit *exec.ExitError
	if errors.As(d.err, &exit) {
		t.Fatalf("atgtd exited with %v after SIGTERM; want 0 (a clean stop)", d.err)
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
	t.Logf("atgtd stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// fillLog runs READs through s until atgtd reports dropped log lines (its output is
// blocked and its buffer full) or maxTime passes. With fatal, a READ that is not
// answered within the session's timeout fails the test.
func fillLog(t *testing.T, d *pipedDaemon, s *initiator.Session, fatal bool) (reads int) {
	t.Helper()
	const maxTime = 40 * time.Second
	// The nexus' first command reports the power on unit attention (SAM-5 6.3.5,
	// ASC 29/00); TEST UNIT READY takes it.
	_ = s.TestUnitReady(uint64(testLUN))
	start := time.Now()
	for time.Since(start) < maxTime {
		if _, err := s.Read(uint64(testLUN), uint64(reads%1000)*8, 8, 512); err != nil {
			if fatal {
				t.Fatalf("READ(10) number %d not answered: %v: with its log output blocked, atgtd stopped serving", reads+1, err)
			}
			t.Logf("READ(10) number %d: %v", reads+1, err)
			return reads
		}
		reads++
		if reads%200 == 0 {
			if v, _ := d.dropped(t); v > 0 {
				t.Logf("%v log lines dropped after %d READs (%v)", v, reads, time.Since(start).Round(time.Millisecond))
				return reads
			}
		}
	}
	t.Fatalf("no log line dropped after %d READs in %v: the log output did not fill", reads, maxTime)
	return reads
}

// droppedLine is the line atgtd writes once its output takes lines again.
var droppedLine = regexp.MustCompile(`\[WARN\] +atgtd: (\d+) log lines dropped: log output blocked for \S+`)

// TestLogSinkBlockedServes: atgtd at -log-level debug logs a line per PDU and per
// task. With its output a pipe nobody reads, the pipe fills after a few hundred
// commands; the service must go on answering anyway: READs (SBC-3 5.11; RFC 7143
// 11.4: every command gets its SCSI Response), new logins (RFC 7143 11.13) and a
// task management function (RFC 7143 11.6: every TMF request gets its response;
// ABORT TASK SET on a LUN with no task of the nexus: Function complete). Lines
// that did not fit are counted in atgt_log_lines_dropped_total; once the pipe is
// read again a WARN line says how many were dropped, and a clean stop exits 0 with
// its last lines written.
func TestLogSinkBlockedServes(t *testing.T) {
	d := startPipedDaemon(t)
	opts := initiator.Options{InitiatorName: "iqn.2026-12.dev.atgt:logblock", TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0x1b, 0, 0, 0, 1}, Timeout: 5 * time.Second}
	s, err := initiator.Dial(d.addr, opts)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	reads := fillLog(t, d, s, true)
	// The output stays blocked: more commands, logins and a TMF, all answered.
	for i := 0; i < 200; i++ {
		if _, err := s.Read(uint64(testLUN), uint64(i)*8, 8, 512); err != nil {
			t.Fatalf("READ(10) %d after the drops: %v", i, err)
		}
	}
	for i := 0; i < 10; i++ {
		o := opts
		o.ISID[5] = byte(2 + i)
		s2, err := initiator.Dial(d.addr, o)
		if err != nil {
			t.Fatalf("login %d with the log output blocked: %v", i, err)
		}
		if _, err := s2.Inquiry(uint64(testLUN)); err != nil {
			t.Fatalf("INQUIRY on login %d: %v", i, err)
		}
		if err := s2.Logout(); err != nil {
			t.Fatalf("logout %d: %v", i, err)
		}
	}
	resp, err := s.TaskMgmt(iscsi.TMFAbortTaskSet, uint64(testLUN), 0xffffffff)
	if err != nil {
		t.Fatalf("ABORT TASK SET with the log output blocked: %v", err)
	}
	if resp != iscsi.TMFRespComplete {
		t.Fatalf("ABORT TASK SET: response %d; want 0, Function complete (RFC 7143 11.6.1)", resp)
	}
	before, ok := d.dropped(t)
	if !ok || before <= 0 {
		t.Fatalf("%s = %v (present %v) after %d READs with the output blocked; want > 0", droppedMetric, before, ok, reads)
	}

	// The consumer reads again: the lines still buffered come out, then the count.
	d.drain()
	var notice []string
	for end := time.Now().Add(10 * time.Second); notice == nil && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		notice = droppedLine.FindStringSubmatch(d.out.String())
	}
	if notice == nil {
		t.Fatalf("no %q line within 10 s of reading the output again", droppedLine)
	}
	t.Logf("atgtd: %s", notice[0])
	s.Close()
	d.stop(t, stopTimeout)
	out := d.out.String()
	var total float64
	for _, m := range droppedLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		total += float64(n)
	}
	if total < before {
		t.Errorf("the dropped lines' notices add up to %v; the metric said %v before", total, before)
	}
	// The stop's lines, in the order they were written, all out by the exit.
	i, j := strings.Index(out, "stopping: asking initiators to log out"), strings.LastIndex(out, "\nstopped\n")
	if i < 0 || j < i {
		t.Errorf("the clean stop's lines are missing or out of order; output's end:\n%s", out[max(0, len(out)-2000):])
	}
}

// TestLogSinkBlockedStop: with its output a full pipe that is never read again, a
// SIGTERM still gives atgtd's clean stop (logouts, flush, exit 0) in bounded time:
// the stop's own lines cannot be written, and must not hold it.
func TestLogSinkBlockedStop(t *testing.T) {
	d := startPipedDaemon(t)
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-12.dev.atgt:logblock-stop",
		TargetName: defaultIQN, ISID: [6]byte{0x80, 0x1b, 0, 0, 1, 1}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	fillLog(t, d, s, false)
	s.Close()
	d.stop(t, 15*time.Second)
}
