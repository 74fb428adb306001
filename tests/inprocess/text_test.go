package inprocess

import (
	"errors"
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestTextRequestInParts: a Text Request sent in parts (C=1, cut anywhere, even
// inside a pair) is answered part by part with empty Text Responses and then as a
// whole (RFC 7143 6.1, 11.10); one over 64 KiB in all is rejected with reason 0x0a
// (Long Operation Reject), and the session goes on.
func TestTextRequestInParts(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	addr := svc.Addrs()[0]
	s := dial(t, addr, initiator.Options{Discovery: true, ISID: isid(1330)})

	keys := []iscsi.KV{{Key: "X-dev.atgt.Pad", Value: strings.Repeat("p", 300)}, {Key: "SendTargets", Value: "All"}}
	for _, part := range []int{7, 64, 1000} {
		kvs, err := s.TextParts(keys, part)
		if err != nil {
			t.Fatalf("parts of %d bytes: %v", part, err)
		}
		want := []iscsi.KV{{Key: "X-dev.atgt.Pad", Value: "NotUnderstood"}, {Key: "TargetName", Value: targetName},
			{Key: "TargetAddress", Value: addr + ",1"}}
		if len(kvs) != len(want) {
			t.Fatalf("parts of %d bytes: answer %v, want %v", part, kvs, want)
		}
		for i := range want {
			if kvs[i] != want[i] {
				t.Fatalf("parts of %d bytes: answer %v, want %v", part, kvs, want)
			}
		}
	}

	// 70 000 bytes of text, in parts the target may receive: beyond 64 KiB the
	// target rejects the part that would take it over.
	long := []iscsi.KV{{Key: "X-dev.atgt.Long", Value: strings.Repeat("l", 70000)}}
	_, err := s.TextParts(long, int(min(s.Params.MaxXmitDataSegmentLength, 8192)))
	var rej *initiator.RejectError
	if !errors.As(err, &rej) || rej.Reason != iscsi.RejectLongOp || rej.Header.Opcode() != iscsi.OpTextReq {
		t.Fatalf("text request of 70000 bytes: %v; want Reject reason %#x of the Text Request", err, iscsi.RejectLongOp)
	}
	if kvs, err := s.SendTargets("All"); err != nil || len(kvs) != 2 {
		t.Fatalf("SendTargets after the rejected request: %v, %v", kvs, err)
	}
	if err := s.Logout(); err != nil {
		t.Fatalf("logout: %v", err)
	}
}
