package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The trace commands (README "Tracing"): they read the tasks atgtd traced, which
// `trace level` switches on. Their -o json form prints JSON lines (one task, or one
// hop figure, per line), -o chrome the Chrome/Perfetto trace-event JSON.

// traceFilterFlags adds the filter flags to f and returns the filter they make.
func traceFilterFlags(f *cmdFlags) func() *pb.TraceFilter {
	target := f.String("target", "", "only this target's tasks")
	lun := f.Int64("lun", -1, "only this LUN's tasks")
	initiator := f.String("initiator", "", "only this initiator's tasks")
	opcode := f.Int("opcode", -1, "only tasks with this SCSI operation code (e.g. 0x88 READ(16))")
	return func() *pb.TraceFilter {
		m := &pb.TraceFilter{Target: *target, Initiator: *initiator}
		if *lun >= 0 {
			m.Lun, m.HasLun = uint64(*lun), true
		}
		if *opcode >= 0 {
			m.Opcode, m.HasOpcode = uint32(*opcode), true
		}
		return m
	}
}

func cmdTraceLevel(e *env, f *cmdFlags, args []string) error {
	filter := traceFilterFlags(f)
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if pos[0] != "off" && pos[0] != "light" && pos[0] != "full" {
		return f.errorf("level %q is not off, light or full", pos[0])
	}
	resp, err := call(e, "trace level", 0, e.client.SetTraceLevel, &pb.SetTraceLevelRequest{Level: pos[0], Filter: filter()})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, traceLevelJSON{Level: resp.Level, Filter: describeFilter(resp.Filter)})
	}
	_, err = fmt.Fprintf(e.out, "trace level %s for %s\n", resp.Level, describeFilter(resp.Filter))
	return err
}

func cmdTraceRecent(e *env, f *cmdFlags, args []string) error {
	n := f.Uint("n", 20, "how many of the last finished tasks")
	filter := traceFilterFlags(f)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, "trace recent", 0, e.client.TraceRecent, &pb.TraceRecentRequest{N: uint32(*n), Filter: filter()})
	if err != nil {
		return err
	}
	return showTasks(e, resp.Tasks)
}

func cmdTraceTask(e *env, f *cmdFlags, args []string) error {
	tsih := f.Int("tsih", -1, "only the task of this session (TSIH)")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	itt, err := strconv.ParseUint(pos[0], 0, 32)
	if err != nil {
		return f.errorf("ITT %q is not a number (decimal or 0x hex)", pos[0])
	}
	req := &pb.TraceTaskRequest{Itt: uint32(itt)}
	if *tsih >= 0 {
		req.Tsih, req.HasTsih = uint32(*tsih), true
	}
	resp, err := call(e, "trace task "+pos[0], 0, e.client.TraceTask, req)
	if err != nil {
		return err
	}
	if e.json || e.chrome {
		return showTasks(e, resp.Tasks)
	}
	for i, tl := range resp.Tasks {
		if i > 0 {
			fmt.Fprintln(e.out)
		}
		if err := writeTimeline(e.out, tl); err != nil {
			return err
		}
	}
	return nil
}

func cmdTraceSlow(e *env, f *cmdFlags, args []string) error {
	over := f.Duration("over", 5*time.Millisecond, "only tasks that took longer")
	n := f.Uint("n", 20, "at most this many, the slowest first")
	filter := traceFilterFlags(f)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, "trace slow", 0, e.client.TraceSlow,
		&pb.TraceSlowRequest{OverSeconds: over.Seconds(), N: uint32(*n), Filter: filter()})
	if err != nil {
		return err
	}
	return showTasks(e, resp.Tasks)
}

func cmdTraceStats(e *env, f *cmdFlags, args []string) error {
	filter := traceFilterFlags(f)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, "trace stats", 0, e.client.TraceStats, &pb.TraceStatsRequest{Filter: filter()})
	if err != nil {
		return err
	}
	if e.json {
		for _, h := range resp.Hops {
			if err := writeJSONLine(e.out, hopStatsJSON{Hop: h.Hop, Count: h.Count, P50Ns: ns(h.P50Seconds),
				P90Ns: ns(h.P90Seconds), P99Ns: ns(h.P99Seconds), MaxNs: ns(h.MaxSeconds)}); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(e.out, "level %s; %d tasks (%d finished, %d to sinks, %d dropped from the sink queue)\n",
		resp.Level, resp.Tasks, resp.Finished, resp.Sunk, resp.SinkDropped)
	t := newTable(e.out, "HOP", "COUNT", "P50", "P90", "P99", "MAX")
	for _, h := range resp.Hops {
		t.row(h.Hop, strconv.FormatUint(h.Count, 10), secs(h.P50Seconds), secs(h.P90Seconds), secs(h.P99Seconds), secs(h.MaxSeconds))
	}
	return t.flush()
}

func cmdTraceTail(e *env, f *cmdFlags, args []string) error {
	n := f.Uint("n", 0, "stop after this many tasks (0: run until interrupted)")
	filter := traceFilterFlags(f)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	req := &pb.TraceTailRequest{WaitSeconds: 10, Filter: filter()}
	var t *table
	if !e.json {
		t = newTable(e.out, taskHeader...)
	}
	seen := uint(0)
	for *n == 0 || seen < *n {
		ctx, cancel := context.WithTimeout(context.Background(), e.timeout+15*time.Second)
		resp, err := e.client.TraceTail(ctx, connect.NewRequest(req))
		cancel()
		if err != nil {
			return failed(e, "trace tail", err)
		}
		req.AfterNs = resp.Msg.UntilNs
		for _, tl := range resp.Msg.Tasks {
			if *n > 0 && seen >= *n {
				break
			}
			seen++
			if e.json {
				if err := writeJSONLine(e.out, toTaskJSON(tl)); err != nil {
					return err
				}
				continue
			}
			t.row(taskRow(tl)...)
			t.flush()
		}
	}
	return nil
}

// showTasks prints tasks as a table, JSON lines or Chrome trace events.
func showTasks(e *env, tasks []*pb.TraceTimeline) error {
	switch {
	case e.chrome:
		return writeJSON(e.out, chromeTrace(tasks))
	case e.json:
		for _, tl := range tasks {
			if err := writeJSONLine(e.out, toTaskJSON(tl)); err != nil {
				return err
			}
		}
		return nil
	}
	t := newTable(e.out, taskHeader...)
	for _, tl := range tasks {
		t.row(taskRow(tl)...)
	}
	return t.flush()
}
