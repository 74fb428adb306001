package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The commands that only read: status, targets, luns, sessions, stats, config show.

func cmdStatus(e *env, f *cmdFlags, args []string) error {
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	st, err := call(e, "status", 0, e.client.Status, &pb.StatusRequest{})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, statusJSON{Version: st.Version, UptimeSeconds: st.UptimeSeconds, Portals: orEmpty(st.Portals),
			Targets: st.Targets, Luns: st.Luns, Sessions: st.Sessions, ConfigPath: st.ConfigPath})
	}
	t := newTable(e.out, "version", st.Version)
	t.row("uptime", duration(st.UptimeSeconds))
	t.row("config", orDash(st.ConfigPath))
	t.row("portals", joinOrDash(st.Portals))
	t.row("targets", strconv.FormatUint(uint64(st.Targets), 10))
	t.row("luns", strconv.FormatUint(uint64(st.Luns), 10))
	t.row("sessions", strconv.FormatUint(uint64(st.Sessions), 10))
	return t.flush()
}

func cmdTargets(e *env, f *cmdFlags, args []string) error {
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, "targets", 0, e.client.ListTargets, &pb.ListTargetsRequest{})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, convert(resp.Targets, toTargetJSON))
	}
	t := newTable(e.out, "NAME", "ALIAS", "LUNS", "SESSIONS", "INITIATORS", "NETWORKS", "OWN-LUNS", "CHAP")
	for _, tg := range resp.Targets {
		luns := make([]string, len(tg.Luns))
		for i, id := range tg.Luns {
			luns[i] = strconv.FormatUint(id, 10)
		}
		chap := "no"
		if tg.Chap {
			chap = "yes"
		}
		t.row(tg.Name, orDash(tg.Alias), joinOrDash(luns), strconv.FormatUint(uint64(tg.Sessions), 10),
			orAny(tg.AllowedInitiators), orAny(tg.AllowedNetworks), joinOrDash(tg.OwnLunsInitiators), chap)
	}
	return t.flush()
}

// orAny shows an empty access list as what it means: anyone.
func orAny(s []string) string {
	if len(s) == 0 {
		return "any"
	}
	return strings.Join(s, ",")
}

func cmdLuns(e *env, f *cmdFlags, args []string) error {
	target := f.String("target", "", "only this target's LUNs")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, of("luns", *target), 0, e.client.ListLuns, &pb.ListLunsRequest{Target: *target})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, convert(resp.Luns, toLunJSON))
	}
	// STATE goes before PATH, which stays last (it may hold spaces); why a LUN is
	// not online follows the table.
	t := newTable(e.out, "TARGET", "INITIATOR", "ID", "BACKEND", "SIZE", "BLOCK", "MODE", "WORKERS", "POLICY", "FAULTS", "STATE", "PATH")
	var notes []string
	for _, l := range resp.Luns {
		mode := "rw"
		if l.ReadOnly {
			mode = "ro"
		}
		size := human(l.SizeBytes)
		if lunState(l) == "missing" {
			size = "-"
		}
		t.row(l.Target, orDash(l.Initiator), strconv.FormatUint(l.Id, 10), l.Backend, size,
			strconv.FormatUint(uint64(l.BlockSize), 10), mode, strconv.FormatUint(uint64(l.Workers), 10),
			orDash(l.IoPolicy), strconv.FormatUint(uint64(l.Faults), 10), lunState(l), orDash(l.Path))
		if l.Reason != "" {
			notes = append(notes, fmt.Sprintf("lun %d of %s%s is %s: %s", l.Id, l.Target, forInitiator(l.Initiator), lunState(l), l.Reason))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(e.out, n); err != nil {
			return err
		}
	}
	return nil
}

// forInitiator names an initiator's own LUN's initiator in a sentence.
func forInitiator(initiator string) string {
	if initiator == "" {
		return ""
	}
	return " for initiator " + initiator
}

func cmdSessions(e *env, f *cmdFlags, args []string) error {
	target := f.String("target", "", "only this target's sessions")
	keys := f.Bool("keys", false, "print each session's negotiated keys under it (table output; JSON always has them)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, of("sessions", *target), 0, e.client.ListSessions, &pb.ListSessionsRequest{Target: *target})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, convert(resp.Sessions, toSessionJSON))
	}
	t := newTable(e.out, "TSIH", "INITIATOR", "TARGET", "ADDRESS", "ISID", "TASKS", "READ", "WRITTEN", "UPTIME")
	for _, s := range resp.Sessions {
		t.row(strconv.FormatUint(uint64(s.Tsih), 10), s.Initiator, s.Target, orDash(s.Address), orDash(s.Isid),
			strconv.FormatUint(s.TasksInFlight, 10), human(s.BytesRead), human(s.BytesWritten), duration(s.UptimeSeconds))
		if *keys {
			for _, k := range sortedKeys(s.Keys) {
				t.row("", "  "+k+"="+s.Keys[k])
			}
		}
	}
	return t.flush()
}

func cmdStats(e *env, f *cmdFlags, args []string) error {
	target := f.String("target", "", "only this target's LUNs")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, of("stats", *target), 0, e.client.Stats, &pb.StatsRequest{Target: *target})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, convert(resp.Luns, toStatsJSON))
	}
	t := newTable(e.out, "TARGET", "INITIATOR", "ID", "READS", "WRITES", "READ", "WRITTEN", "OTHER", "ERRORS", "IN-FLIGHT", "RESTARTS", "ABANDONED", "FAULTS")
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, s := range resp.Luns {
		t.row(s.Target, orDash(s.Initiator), u(s.Id), u(s.Reads), u(s.Writes), human(s.BytesRead), human(s.BytesWritten),
			u(s.OtherCommands), u(s.Errors), u(s.TasksInFlight), u(s.WorkerRestarts), u(s.AbandonedIos), u(s.FaultsFired))
	}
	return t.flush()
}

// cmdConfigShow prints the config in the config file's own format (protobuf JSON) in
// both output modes, so that it can be saved, edited and given to config apply.
func cmdConfigShow(e *env, f *cmdFlags, args []string) error {
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	resp, err := call(e, "config", 0, e.client.GetConfig, &pb.GetConfigRequest{})
	if err != nil {
		return err
	}
	b, err := protojson.Marshal(resp.GetConfig())
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// protojson varies its spacing on purpose; json.Indent makes it stable.
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	buf.WriteByte('\n')
	_, err = buf.WriteTo(e.out)
	return err
}
