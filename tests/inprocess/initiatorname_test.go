package inprocess

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/tests/initiator"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestInitiatorNameControlCharsRefused: an InitiatorName with a newline and an ANSI
// escape (RFC 7143 4.2.7.2 allows only dash, dot, colon, lower-case letters, digits
// and nameprep'd Unicode) is refused at login with 0200 Initiator error, so it never
// reaches a log line raw; a real initiator's name still logs in.
func TestInitiatorNameControlCharsRefused(t *testing.T) {
	var out lockedBuf
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: &out})
	svc, err := target.StartWith(baseConfig(t), log, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	evil := "iqn.x\n2026-12-01T00:00:00.000Z [ERROR] atgtd: FORGED admin token leaked\x1b[2J"
	s, err := initiator.Dial(svc.Addrs()[0], initiator.Options{InitiatorName: evil, TargetName: targetName, Timeout: 5 * time.Second})
	var le *initiator.LoginError
	if !errors.As(err, &le) || le.Class != 2 || le.Detail != 0 {
		if err == nil {
			s.Close()
		}
		t.Fatalf("login with a name holding control characters: %v, want status 0200", err)
	}
	got := out.String()
	if strings.Contains(got, "\x1b[2J") || strings.Contains(got, "FORGED") && !strings.Contains(got, `\n`) {
		t.Errorf("initiator-controlled control characters reach the log raw:\n%q", got)
	}
	s, err = initiator.Dial(svc.Addrs()[0], initiator.Options{InitiatorName: "iqn.1991-05.com.microsoft:host-1.example.com",
		TargetName: targetName, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("a Windows-style name was refused: %v", err)
	}
	defer s.Close()
	ready(t, s, 0)
	_, _ = s.Read(0, lunSize/blockSize, 1, blockSize) // past the end: a flight record at warn
	time.Sleep(300 * time.Millisecond)
	got = out.String()
	t.Logf("log:\n%q", got)
	if strings.Contains(got, "\x1b[2J") || strings.Contains(got, "\n  | 2026-12-01T00:00:00.000Z [ERROR]") {
		t.Errorf("initiator-controlled control characters reach the log raw")
	}
}
