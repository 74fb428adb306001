package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestTimelineSaysCutShort: a timeline whose record dropped events says so in the
// table and in JSON.
func TestTimelineSaysCutShort(t *testing.T) {
	tl := &pb.TraceTimeline{Itt: 1, Opcode: 0x8a, Dropped: 3, Hops: []*pb.TraceHop{{Hop: "received", TNs: 1}, {Hop: "retry", TNs: 2}}}
	var b bytes.Buffer
	if err := writeTimeline(&b, tl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "cut short: 3 later events dropped") {
		t.Errorf("table does not say the timeline is cut short:\n%s", b.String())
	}
	j, _ := json.Marshal(toTaskJSON(tl))
	if !strings.Contains(string(j), `"dropped":3`) {
		t.Errorf("JSON does not carry dropped: %s", j)
	}
}
