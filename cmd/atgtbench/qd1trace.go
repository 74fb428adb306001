package main

// The per-hop breakdown of `atgtbench qd1`: the Go-initiator cases run once more
// against atgt with tracing on (switched by the admin TraceService for these
// initiators only), then the traced tasks' timelines are read back and the time
// between consecutive hops is summarised, so one sees where a lone command's
// microseconds go inside atgt.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"time"

	"connectrpc.com/connect"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/atgtv1/atgtv1connect"
	"github.com/atgt/atgt/messages/scsi"
)

// traceClient returns a TraceService client on atgtd's admin socket.
func traceClient(socket string) atgtv1connect.TraceServiceClient {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	return atgtv1connect.NewTraceServiceClient(hc, "http://atgt")
}

// hopGap is the time from one hop to the next of the same task.
type hopGap struct {
	From, To string
	Gaps     []float64 // µs
	Pos      []float64 // index of To in its timeline, to order the rows
	// Actors counts the actor kinds the gap crossed ("conn → session"); a change
	// of actor is a message hand-off, often a parked goroutine's wake-up.
	Actors map[string]int
}

// actors is the most common actor crossing of the gap.
func (g *hopGap) actors() string {
	best, n := "", 0
	for a, c := range g.Actors {
		if c > n || (c == n && a < best) {
			best, n = a, c
		}
	}
	return best
}

// tracedCase is what the traced run of one case gave.
type tracedCase struct {
	Case    string
	Target  string
	Opcodes []uint8
	Client  latStats // the client's round trips in the traced run
	// ByOp holds, per SCSI opcode, the gaps and the first-to-last totals.
	ByOp  map[uint8]*opTrace
	Tasks int
}

// opTrace is the breakdown of one opcode's traced tasks.
type opTrace struct {
	Gaps   map[string]*hopGap
	Totals []float64 // µs from the first hop to the last
}

// traceBreakdown reduces timelines to per-opcode gaps between consecutive hops.
func traceBreakdown(cs qd1Case, target string, client latStats, tls []*pb.TraceTimeline) *tracedCase {
	tc := &tracedCase{Case: cs.Name, Target: target, Opcodes: cs.Opcodes, Client: client, ByOp: map[uint8]*opTrace{}, Tasks: len(tls)}
	for _, tl := range tls {
		if len(tl.Hops) < 2 {
			continue
		}
		op := uint8(tl.Opcode)
		ot := tc.ByOp[op]
		if ot == nil {
			ot = &opTrace{Gaps: map[string]*hopGap{}}
			tc.ByOp[op] = ot
		}
		hops := slices.Clone(tl.Hops)
		sort.SliceStable(hops, func(i, j int) bool { return hops[i].TNs < hops[j].TNs })
		for i := 1; i < len(hops); i++ {
			key := hops[i-1].Hop + " → " + hops[i].Hop
			g := ot.Gaps[key]
			if g == nil {
				g = &hopGap{From: hops[i-1].Hop, To: hops[i].Hop, Actors: map[string]int{}}
				ot.Gaps[key] = g
			}
			a := hops[i-1].Actor
			if hops[i].Actor != a {
				a += " → " + hops[i].Actor
			}
			g.Actors[a]++
			g.Gaps = append(g.Gaps, float64(hops[i].TNs-hops[i-1].TNs)/1e3)
			g.Pos = append(g.Pos, float64(i))
		}
		ot.Totals = append(ot.Totals, float64(hops[len(hops)-1].TNs-hops[0].TNs)/1e3)
	}
	return tc
}

// opName names the opcodes the QD1 cases send.
func opName(op uint8) string {
	switch op {
	case scsi.OpRead16:
		return "READ(16)"
	case scsi.OpWrite16:
		return "WRITE(16)"
	case scsi.OpSynchronizeCache10:
		return "SYNCHRONIZE CACHE(10)"
	}
	return fmt.Sprintf("opcode %#x", op)
}

// traceSection renders one traced case: a row per hop-to-hop gap in path order
// (p50, p90, share of the summed p50s), the total inside atgt, and what the
// client saw beyond it.
func traceSection(tc *tracedCase) qd1Section {
	s := qd1Section{Title: "Where the time goes in " + tc.Target + ": " + tc.Case, Left: 3,
		Intro: "From atgtd's message trace (level light) of a separate run of the case: the time between consecutive " +
			"hops of each task (hop names as in actors/trace/hops.go; `atgtctl trace task` shows one task's). " +
			"Rows in path order; a gap seen in few tasks (a rare path) shows its count.",
		Header: []string{"opcode", "hop → next hop", "actor", "tasks", "p50 µs", "p90 µs", "share of p50 sum"}}
	var insideP50 float64
	for _, op := range tc.Opcodes {
		ot := tc.ByOp[op]
		if ot == nil {
			s.Rows = append(s.Rows, []string{opName(op), "(no traced task)", "", "0", "n/a", "n/a", ""})
			continue
		}
		gaps := make([]*hopGap, 0, len(ot.Gaps))
		for _, g := range ot.Gaps {
			gaps = append(gaps, g)
		}
		sort.SliceStable(gaps, func(i, j int) bool { return median(gaps[i].Pos) < median(gaps[j].Pos) })
		var sum float64
		p50 := map[*hopGap]float64{}
		for _, g := range gaps {
			slices.Sort(g.Gaps)
			p50[g] = quantile(g.Gaps, 0.5)
			if len(g.Gaps)*2 >= len(ot.Totals) { // the common path's gaps
				sum += p50[g]
			}
		}
		for _, g := range gaps {
			share := ""
			if sum > 0 && len(g.Gaps)*2 >= len(ot.Totals) {
				share = fmt.Sprintf("%.0f%%", 100*p50[g]/sum)
			}
			s.Rows = append(s.Rows, []string{opName(op), g.From + " → " + g.To, g.actors(), fmt.Sprint(len(g.Gaps)),
				us(p50[g]), us(quantile(g.Gaps, 0.9)), share})
		}
		slices.Sort(ot.Totals)
		total := quantile(ot.Totals, 0.5)
		insideP50 += total
		s.Rows = append(s.Rows, []string{opName(op), "**first hop → last hop (inside " + tc.Target + ")**", "", fmt.Sprint(len(ot.Totals)),
			us(total), us(quantile(ot.Totals, 0.9)), ""})
	}
	s.Rows = append(s.Rows,
		[]string{"all", "client round trip (traced run)", "client", fmt.Sprint(tc.Client.N), us(tc.Client.P50), "", ""},
		[]string{"all", "outside " + tc.Target + ": client, kernel TCP both ways, wake-ups (p50 difference)", "", "",
			us(tc.Client.P50 - insideP50), "", ""})
	s.Notes = append(s.Notes, "`received` is stamped when the reader has parsed the command off the socket (its read "+
		"and wake-up are outside); `written` when the writer's writev returned, which on loopback includes the kernel "+
		"delivering the bytes to the client's socket and waking it (and, when client and writer share a CPU, maybe the "+
		"client's own run before the writer resumes); a change of actor is a message hand-off.")
	return s
}

// runTraced runs each case against atgt with tracing on for its own initiator name
// and returns the breakdowns.
func runTraced(ctx context.Context, atgt *target, cases []qd1Case, ios int, seed uint64) ([]*tracedCase, error) {
	if atgt.Admin == "" {
		return nil, fmt.Errorf("atgtd printed no admin socket: cannot switch tracing on")
	}
	tc := traceClient(atgt.Admin)
	var out []*tracedCase
	for i, c := range cases {
		name := fmt.Sprintf("%s-trace%d", qd1Initiator, i)
		if _, err := tc.SetTraceLevel(ctx, connect.NewRequest(&pb.SetTraceLevelRequest{Level: "light",
			Filter: &pb.TraceFilter{Initiator: name}})); err != nil {
			return nil, fmt.Errorf("trace level light: %w", err)
		}
		if c.Write() {
			syncAll()
		}
		lat, err := runQD1Case(atgt.URL, name, c.Op, ios, seed)
		if _, err2 := tc.SetTraceLevel(ctx, connect.NewRequest(&pb.SetTraceLevelRequest{Level: "off"})); err == nil {
			err = err2
		}
		if err != nil {
			return nil, fmt.Errorf("traced %s: %w", c.Name, err)
		}
		// Tasks finish on atgt's side a moment after the client saw the status.
		time.Sleep(100 * time.Millisecond)
		n := uint32(ios * len(c.Opcodes) * 2) // the warm-up's tasks too
		resp, err := tc.TraceRecent(ctx, connect.NewRequest(&pb.TraceRecentRequest{N: n,
			Filter: &pb.TraceFilter{Initiator: name}}))
		if err != nil {
			return nil, fmt.Errorf("trace recent: %w", err)
		}
		out = append(out, traceBreakdown(c, atgt.Name, latencyStats([][]time.Duration{lat}), resp.Msg.Tasks))
	}
	syncAll()
	return out, nil
}
