package login

import (
	"fmt"
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// A login that never authenticates and keeps sending complete requests of new
// unknown keys is ended with 0200 once it passes maxLoginKeys, with its remembered
// keys bounded; before the bound it grew the Machine by one key per key sent for
// the whole login timeout.
func TestLoginKeyFloodEnds(t *testing.T) {
	m := NewMachine(testConfig())
	n := 0
	for r := 0; r < 2000; r++ { // 2000 requests of < 8 KiB: 16 MB of traffic
		var kvs []iscsi.KV
		if r == 0 {
			kvs = append(kvs, iscsi.KV{Key: "InitiatorName", Value: testInitiator}, iscsi.KV{Key: "SessionType", Value: "Discovery"})
		}
		data := iscsi.AppendText(nil, kvs...)
		for len(data) < 8192-16 {
			data = iscsi.AppendText(data, iscsi.KV{Key: fmt.Sprintf("X-%x", n)})
			n++
		}
		req := &Request{CSG: StageSecurity, NSG: StageOperational, ISID: [6]byte{0x80, 1, 2, 3, 4, 5}, ITT: 7, Data: data}
		resp, done := m.Step(req)
		if done {
			t.Fatalf("request %d completed the login", r)
		}
		if resp.StatusClass != 0 {
			if resp.Status() != InitiatorError {
				t.Fatalf("request %d: status %04x, want 0200", r, resp.Status())
			}
			if len(m.seen) > maxLoginKeys {
				t.Fatalf("login remembers %d keys, bound %d", len(m.seen), maxLoginKeys)
			}
			if len(resp.Data) > maxLoginSegment {
				t.Fatalf("failure response of %d bytes", len(resp.Data))
			}
			if again, _ := m.Step(req); again.Status() != InitiatorError {
				t.Fatalf("after the failure: %04x", again.Status())
			}
			return
		}
	}
	t.Fatalf("2000 requests of new keys accepted; the login remembers %d keys", len(m.seen))
}

// The text of all the requests of one login is bounded too, also when each request
// repeats only the initiator's declarations (which add no key).
func TestLoginTotalTextBounded(t *testing.T) {
	m := NewMachine(testConfig())
	alias := "InitiatorAlias=" + strings.Repeat("a", 200)
	for r := 0; ; r++ {
		req := secReq(names(alias))
		req.Transit = false
		resp, _ := m.Step(req)
		if resp.StatusClass != 0 {
			if resp.Status() != InitiatorError || m.received <= maxLoginTotal-len(req.Data) {
				t.Fatalf("request %d: status %04x after %d bytes", r, resp.Status(), m.received)
			}
			return
		}
		if r > 10000 {
			t.Fatal("no bound on the text of a login")
		}
	}
}

// longKeys is text of n unknown keys with long names, whose answer is far longer than
// one login PDU may carry.
func longKeys(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("X-com.example.%s.%s-%d=", prefix, strings.Repeat("k", 40), i))
	}
	return out
}

// collect drives a response sent in parts (C=1) to its end with empty requests of
// the same stage, checking that each part fits the initiator's 8192 bytes and that
// the stage changes only with the last one; it returns the whole text and the last
// response.
func collect(t *testing.T, m *Machine, first *Request, resp *Response, done bool) ([]byte, *Response, bool) {
	t.Helper()
	var all []byte
	for parts := 1; ; parts++ {
		if resp.StatusClass != 0 {
			t.Fatalf("part %d: status %04x", parts, resp.Status())
		}
		if len(resp.Data) > maxLoginSegment {
			t.Fatalf("part %d carries %d bytes", parts, len(resp.Data))
		}
		all = append(all, resp.Data...)
		if !resp.Continue {
			if parts < 2 {
				t.Fatalf("a %d-byte answer was not split", len(all))
			}
			return all, resp, done
		}
		if resp.Transit || done {
			t.Fatalf("part %d has C=1 with T=1 or completes the login", parts)
		}
		empty := *first
		empty.Data, empty.Continue = nil, false
		resp, done = m.Step(&empty)
	}
}

// An answer longer than 8192 bytes goes in parts with C=1 (RFC 7143 6.2): each part
// is asked for by an empty Login Request, and the transit asked for takes effect
// with the last part.
func TestLoginResponseSplit(t *testing.T) {
	m := NewMachine(testConfig())
	keys := longKeys("sec", 140)
	first := secReq(names(append([]string{"AuthMethod=None"}, keys...)...))
	resp, done := m.Step(first)
	all, last, done := collect(t, m, first, resp, done)
	if !last.Transit || last.NSG != StageOperational || done {
		t.Fatalf("last part %+v done %v", last, done)
	}
	r := replyMap(t, &Response{Data: all})
	for _, k := range keys {
		if r[strings.TrimSuffix(k, "=")] != "NotUnderstood" {
			t.Fatalf("%s answered %q", k, r[k])
		}
	}
	if r["AuthMethod"] != "None" || r["TargetPortalGroupTag"] != "1" {
		t.Fatalf("reply %v", r)
	}
	// The login goes on in the operational stage to full feature phase, with a long
	// answer there too.
	op := opReq(text(longKeys("op", 112)...))
	resp, done = m.Step(op)
	_, last, done = collect(t, m, op, resp, done)
	if !done || !last.Transit || last.NSG != StageFullFeature {
		t.Fatalf("last part %+v done %v", last, done)
	}
}

// The request that asks for the next part must be empty and not continued.
func TestLoginResponseSplitNeedsEmptyRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Request)
	}{
		{"with text", func(r *Request) { r.Data = text("X-a=1") }},
		{"continued", func(r *Request) { r.Data, r.Transit, r.Continue = nil, false, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMachine(testConfig())
			first := secReq(names(longKeys("sec", 200)...))
			first.Transit = false
			if resp, _ := m.Step(first); !resp.Continue {
				t.Fatalf("not split: %d bytes", len(resp.Data))
			}
			next := *first
			tc.edit(&next)
			if resp, _ := m.Step(&next); resp.Status() != InitiatorError {
				t.Fatalf("status %04x", resp.Status())
			}
		})
	}
}
