package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The trace commands' output. taskJSON is one line of `atgtctl -o json trace
// recent|task|slow|tail`; scripts rely on initiator, tsih, itt, cmdsn, lun, opcode
// (a number) and hops (in order, each with at least actor, message and tNs). Add
// fields; never rename or remove one.
type taskJSON struct {
	Initiator string `json:"initiator"`
	Target    string `json:"target"`
	ISID      string `json:"isid"`
	TSIH      uint32 `json:"tsih"`
	ITT       uint32 `json:"itt"`
	CmdSN     uint32 `json:"cmdsn"`
	LUN       uint64 `json:"lun"`
	Opcode    uint32 `json:"opcode"`
	Status    uint32 `json:"status"`
	Sense     string `json:"sense"`
	Bad       bool   `json:"bad"`
	// Dropped counts events the record had no room for: the hops are cut short.
	Dropped    uint32    `json:"dropped,omitempty"`
	DurationNs int64     `json:"durationNs"`
	Hops       []hopJSON `json:"hops"`
}

// hopJSON is one hop of a taskJSON.
type hopJSON struct {
	Hop     string `json:"hop"`
	Actor   string `json:"actor"`
	ActorID string `json:"actorId"`
	Message string `json:"message"`
	TNs     int64  `json:"tNs"`
	// SinceArrivalNs is from the task's first hop, SincePrevNs from the hop before.
	SinceArrivalNs int64  `json:"sinceArrivalNs"`
	SincePrevNs    int64  `json:"sincePrevNs"`
	Bytes          int64  `json:"bytes"`
	Result         string `json:"result"`
	Detail         string `json:"detail"`
	// Msg is the hop's protobuf message as protojson (trace level full only).
	Msg json.RawMessage `json:"msg,omitempty"`
}

// hopStatsJSON is one line of `atgtctl -o json trace stats`.
type hopStatsJSON struct {
	Hop   string `json:"hop"`
	Count uint64 `json:"count"`
	P50Ns int64  `json:"p50Ns"`
	P90Ns int64  `json:"p90Ns"`
	P99Ns int64  `json:"p99Ns"`
	MaxNs int64  `json:"maxNs"`
}

// traceLevelJSON is `atgtctl -o json trace level`'s answer.
type traceLevelJSON struct {
	Level  string `json:"level"`
	Filter string `json:"filter"`
}

func toTaskJSON(tl *pb.TraceTimeline) taskJSON {
	out := taskJSON{Initiator: tl.Initiator, Target: tl.Target, ISID: tl.Isid, TSIH: tl.Tsih, ITT: tl.Itt, CmdSN: tl.Cmdsn,
		LUN: tl.Lun, Opcode: tl.Opcode, Status: tl.Status, Sense: tl.Sense, Bad: tl.Bad, DurationNs: took(tl),
		Dropped: tl.Dropped, Hops: []hopJSON{}}
	for i, h := range tl.Hops {
		j := hopJSON{Hop: h.Hop, Actor: h.Actor, ActorID: h.ActorId, Message: h.Message, TNs: h.TNs,
			SinceArrivalNs: h.TNs - tl.Hops[0].TNs, Bytes: h.Bytes, Result: h.Result, Detail: h.Detail}
		if i > 0 {
			j.SincePrevNs = h.TNs - tl.Hops[i-1].TNs
		}
		if h.MsgJson != "" {
			j.Msg = json.RawMessage(h.MsgJson)
		}
		out.Hops = append(out.Hops, j)
	}
	return out
}

// took is a task's time from its first hop to its last.
func took(tl *pb.TraceTimeline) int64 {
	if len(tl.Hops) == 0 {
		return 0
	}
	return tl.Hops[len(tl.Hops)-1].TNs - tl.Hops[0].TNs
}

// writeJSONLine prints v as one line.
func writeJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// taskHeader and taskRow are the table of tasks.
var taskHeader = []string{"TSIH", "ITT", "CMDSN", "LUN", "OPCODE", "STATUS", "HOPS", "TOOK", "INITIATOR"}

func taskRow(tl *pb.TraceTimeline) []string {
	return []string{strconv.FormatUint(uint64(tl.Tsih), 10), fmt.Sprintf("0x%x", tl.Itt), strconv.FormatUint(uint64(tl.Cmdsn), 10),
		strconv.FormatUint(tl.Lun, 10), opName(tl.Opcode), statusText(tl), strconv.Itoa(len(tl.Hops)),
		time.Duration(took(tl)).String(), tl.Initiator}
}

// writeTimeline prints one task's timeline: each hop, the time since arrival and
// since the hop before, and the actor.
func writeTimeline(w io.Writer, tl *pb.TraceTimeline) error {
	fmt.Fprintf(w, "task itt 0x%x tsih %d cmdsn %d lun %d %s: %s in %v\n  initiator %s isid %s\n  target %s\n",
		tl.Itt, tl.Tsih, tl.Cmdsn, tl.Lun, opName(tl.Opcode), statusText(tl), time.Duration(took(tl)), tl.Initiator, tl.Isid, tl.Target)
	t := newTable(w, "HOP", "+ARRIVAL", "+PREV", "ACTOR", "ID", "MESSAGE", "BYTES", "RESULT")
	for i, h := range tl.Hops {
		prev := int64(0)
		if i > 0 {
			prev = h.TNs - tl.Hops[i-1].TNs
		}
		res := h.Result
		if h.Detail != "" {
			res = strings.TrimSpace(res + " " + h.Detail)
		}
		bytes := "-"
		if h.Bytes > 0 {
			bytes = strconv.FormatInt(h.Bytes, 10)
		}
		t.row(h.Hop, time.Duration(h.TNs-tl.Hops[0].TNs).String(), time.Duration(prev).String(), h.Actor, orDash(h.ActorId),
			orDash(h.Message), bytes, orDash(res))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if tl.Dropped > 0 {
		_, err := fmt.Fprintf(w, "  (cut short: %d later events dropped, the record was full)\n", tl.Dropped)
		return err
	}
	return nil
}

// statusText names a task's status for people.
func statusText(tl *pb.TraceTimeline) string {
	s := map[uint32]string{0: "GOOD", 2: "CHECK CONDITION", 8: "BUSY", 0x18: "RESERVATION CONFLICT",
		0x28: "TASK SET FULL", 0x40: "TASK ABORTED"}[tl.Status]
	if s == "" {
		s = fmt.Sprintf("0x%02x", tl.Status)
	}
	if tl.Sense != "" {
		s += " sense " + tl.Sense
	}
	if tl.Bad {
		s += " (flight recorded)"
	}
	return s
}

// opName names the common operation codes; others show as hex.
func opName(op uint32) string {
	names := map[uint32]string{0x00: "TEST UNIT READY", 0x03: "REQUEST SENSE", 0x08: "READ(6)", 0x0a: "WRITE(6)",
		0x12: "INQUIRY", 0x1a: "MODE SENSE(6)", 0x25: "READ CAPACITY(10)", 0x28: "READ(10)", 0x2a: "WRITE(10)",
		0x35: "SYNCHRONIZE CACHE(10)", 0x42: "UNMAP", 0x5a: "MODE SENSE(10)", 0x88: "READ(16)", 0x8a: "WRITE(16)",
		0x91: "SYNCHRONIZE CACHE(16)", 0x9e: "SERVICE ACTION IN(16)", 0xa0: "REPORT LUNS"}
	if n, ok := names[op]; ok {
		return fmt.Sprintf("0x%02x %s", op, n)
	}
	return fmt.Sprintf("0x%02x", op)
}

// describeFilter renders a filter for people ("every task" when empty).
func describeFilter(f *pb.TraceFilter) string {
	var parts []string
	if f.GetTarget() != "" {
		parts = append(parts, "target "+f.Target)
	}
	if f.GetHasLun() {
		parts = append(parts, fmt.Sprintf("lun %d", f.Lun))
	}
	if f.GetInitiator() != "" {
		parts = append(parts, "initiator "+f.Initiator)
	}
	if f.GetHasOpcode() {
		parts = append(parts, fmt.Sprintf("opcode 0x%02x", f.Opcode))
	}
	if len(parts) == 0 {
		return "every task"
	}
	return strings.Join(parts, ", ")
}

// ns and secs render seconds as nanoseconds and for people.
func ns(s float64) int64 { return int64(s * 1e9) }

func secs(s float64) string { return time.Duration(ns(s)).String() }

// chromeEvent is one event of the Chrome/Perfetto trace-event format.
type chromeEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"` // microseconds
	Dur  float64        `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	S    string         `json:"s,omitempty"`
	Args map[string]any `json:"args,omitempty"`
}

// chromeTrace lays tasks out for chrome://tracing and ui.perfetto.dev: one process
// per actor kind, one thread per actor, each hop an "X" slice lasting until the
// task's next hop (its last hop an instant "i").
func chromeTrace(tasks []*pb.TraceTimeline) map[string]any {
	kinds := map[string]int{}
	var events []chromeEvent
	pidOf := func(kind string) int {
		if p, ok := kinds[kind]; ok {
			return p
		}
		kinds[kind] = len(kinds) + 1
		return kinds[kind]
	}
	for _, tl := range tasks {
		args := map[string]any{"itt": fmt.Sprintf("0x%x", tl.Itt), "tsih": tl.Tsih, "cmdsn": tl.Cmdsn, "lun": tl.Lun,
			"opcode": opName(tl.Opcode), "initiator": tl.Initiator}
		for i, h := range tl.Hops {
			ev := chromeEvent{Name: h.Hop, Cat: fmt.Sprintf("itt 0x%x", tl.Itt), Ph: "X", Ts: float64(h.TNs) / 1e3,
				Pid: pidOf(h.Actor), Tid: tidOf(h.ActorId), Args: args}
			if i+1 < len(tl.Hops) {
				ev.Dur = float64(tl.Hops[i+1].TNs-h.TNs) / 1e3
			} else {
				ev.Ph, ev.S = "i", "t"
			}
			events = append(events, ev)
		}
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		events = append(events, chromeEvent{Name: "process_name", Ph: "M", Pid: kinds[k], Args: map[string]any{"name": k}})
	}
	if events == nil {
		events = []chromeEvent{}
	}
	return map[string]any{"traceEvents": events, "displayTimeUnit": "ns"}
}

// tidOf numbers an actor id for the trace's threads.
func tidOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() & 0x7fffffff)
}
