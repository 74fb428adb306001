package main

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
)

// command is one atgtctl command: its name (one or two words), synopsis, summary
// and body. run gets the command's flag set, named and described, to add its flags
// to and parse args with.
type command struct {
	name, args, summary string
	run                 func(e *env, f *cmdFlags, args []string) error
}

// commandOrder lists the commands as atgtctl -h shows them. Scripts depend on these
// forms: change them only compatibly.
var commandOrder = []command{
	{"status", "", "what atgtd serves and since when", cmdStatus},
	{"targets", "", "list the targets", cmdTargets},
	{"luns", "[-target IQN]", "list the LUNs, of one target or all", cmdLuns},
	{"sessions", "[-target IQN] [-keys]", "list the logged-in sessions (-keys: with their negotiated keys)", cmdSessions},
	{"stats", "[-target IQN]", "counters per LUN", cmdStats},
	{"target add", "-name IQN [-alias A] [-initiator NAME]... [-network CIDR]... [-lun-path FILE [-lun-size BYTES]]... | -file TARGET.json",
		"add a target; its LUNs are numbered 0, 1, ... in order; -file: an atgt.v1.Target in protobuf JSON", cmdTargetAdd},
	{"target rm", "-name IQN [-grace S]", "log the target's sessions out (closing them after S seconds, default 5) and remove it", cmdTargetRm},
	{"lun add", "-target IQN -id N -path FILE -size BYTES [-initiator NAME] [-backend B] [-block-size 512|4096] [-read-only] [-workers N]",
		"add a LUN; the target's sessions get REPORTED LUNS DATA HAS CHANGED", cmdLunAdd},
	{"lun rm", "-target IQN -id N [-initiator NAME] [-force]", "remove a LUN (refused with tasks in flight unless -force, which drains them)", cmdLunRm},
	{"lun resize", "-target IQN -id N -size BYTES [-initiator NAME] [-shrink]", "grow a LUN (-shrink: allow a smaller size, losing the blocks past it)", cmdLunResize},
	{"acl add", "-target IQN [-initiator NAME] [-network CIDR]", "allow an initiator and/or a source network to log in", cmdACL(true)},
	{"acl rm", "-target IQN [-initiator NAME] [-network CIDR] [-allow-any]", "take an initiator and/or a network off the access list (logged-in sessions stay; the last entry only with -allow-any, as an empty list admits everyone)", cmdACL(false)},
	{"session logout", "TSIH [-grace S]", "ask a session to log out, closing it after S seconds (default 5)", cmdSessionLogout},
	{"faults set", "-target IQN -id N [-initiator NAME] (-file FAULTS.json | -fault JSON...)",
		"replace a LUN's injected faults (a JSON array of atgt.v1.Fault, as in the config's \"faults\"; -fault repeats)", cmdFaultsSet},
	{"faults clear", "-target IQN -id N [-initiator NAME]", "remove a LUN's faults, releasing the calls they hold", cmdFaultsClear},
	{"config show", "", "print the config as atgtd serves it (the config file's format)", cmdConfigShow},
	{"config apply", "FILE [-dry-run]", "make atgtd serve FILE, changing only what differs (-dry-run: only list the changes)", cmdConfigApply},
	{"trace level", "off|light|full [-target IQN] [-lun N] [-initiator NAME] [-opcode N]",
		"switch tracing at runtime, for the tasks the filters select (all without any)", cmdTraceLevel},
	{"trace recent", "[-n N] [filters]", "the last N finished traced tasks (-o json: one JSON object a line)", cmdTraceRecent},
	{"trace task", "ITT [-tsih N]", "one traced task's timeline: each hop, the time since arrival and since the hop before, the actor", cmdTraceTask},
	{"trace slow", "[-over D] [-n N] [filters]", "the slowest recent traced tasks that took longer than D (default 5ms)", cmdTraceSlow},
	{"trace stats", "[filters]", "per-hop latency percentiles over the recent traced tasks", cmdTraceStats},
	{"trace tail", "[-n N] [filters]", "print traced tasks as they finish (until interrupted, or N tasks)", cmdTraceTail},
}

// commands indexes commandOrder by name.
var commands = func() map[string]command {
	m := make(map[string]command, len(commandOrder))
	for _, c := range commandOrder {
		m[c.name] = c
	}
	return m
}()

// call makes one RPC with the -timeout deadline (plus extra for a grace period the
// server waits out) and returns the response message, or the error as failed makes
// it, naming object.
func call[Req, Resp any](e *env, object string, extra time.Duration,
	method func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error), req *Req) (*Resp, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout+extra)
	defer cancel()
	resp, err := method(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, failed(e, object, err)
	}
	return resp.Msg, nil
}

// of names a list's scope in errors: "luns", "luns of IQN".
func of(what, target string) string {
	if target == "" {
		return what
	}
	return what + " of " + target
}

// lunObject names a LUN in errors: "lun 3 of IQN", "lun 0 of IQN for initiator X".
func lunObject(target, initiator string, id uint64) string {
	s := fmt.Sprintf("lun %d of %s", id, target)
	if initiator != "" {
		s += " for initiator " + initiator
	}
	return s
}
