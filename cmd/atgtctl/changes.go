package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The commands that change what atgtd serves.

func cmdTargetAdd(e *env, f *cmdFlags, args []string) error {
	name := f.String("name", "", "the target's iSCSI name (iqn...)")
	alias := f.String("alias", "", "its TargetAlias")
	var initiators, networks listFlag
	f.Var(&initiators, "initiator", "an initiator allowed to log in (repeat for more; none: any)")
	f.Var(&networks, "network", "a source network (CIDR) allowed to log in (repeat for more; none: any)")
	luns := &lunSpecs{}
	f.Var(pathFlag{luns}, "lun-path", "a LUN's `FILE` or block device (repeat for more LUNs, numbered 0, 1, ...)")
	f.Var(sizeOfLast{luns}, "lun-size", "the size in `BYTES` of the -lun-path before it (for a new file)")
	file := f.String("file", "", "the whole target as an atgt.v1.Target in protobuf JSON (instead of the other flags)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	var t *pb.Target
	switch {
	case *file != "" && (*name != "" || *alias != "" || len(initiators)+len(networks)+len(luns.paths) > 0):
		return f.errorf("-file takes no other flags")
	case *file != "":
		var err error
		if t, err = readTarget(*file); err != nil {
			return err
		}
	case *name == "":
		return f.errorf("-name or -file is required")
	default:
		t = &pb.Target{Name: *name, Alias: *alias, AllowedInitiators: initiators, AllowedNetworks: networks}
		for i, p := range luns.paths {
			t.Luns = append(t.Luns, &pb.Lun{Id: uint64(i), Path: p, SizeBytes: luns.sizes[i]})
		}
	}
	if _, err := call(e, "target "+t.Name, 0, e.client.AddTarget, &pb.AddTargetRequest{Target: t}); err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, targetAddedJSON{Target: t.Name, Luns: len(t.Luns)})
	}
	_, err := fmt.Fprintf(e.out, "added target %s with %d LUNs\n", t.Name, len(t.Luns))
	return err
}

// readTarget reads a target file as the service reads a config file
// (target.LoadTargetFile): strictly, never showing a secret in a parse error, and
// refusing a file that holds a secret and that every user may read.
func readTarget(path string) (*pb.Target, error) {
	return target.LoadTargetFile(path)
}

func cmdTargetRm(e *env, f *cmdFlags, args []string) error {
	name := f.String("name", "", "the target's iSCSI name")
	grace := f.Uint("grace", 0, "seconds its sessions have to log out before they are closed (0: the server's default, 5)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.require("name"); err != nil {
		return err
	}
	resp, err := call(e, "target "+*name, graceWait(*grace), e.client.RemoveTarget,
		&pb.RemoveTargetRequest{Name: *name, GraceSeconds: uint32(*grace)})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, targetRemovedJSON{Target: *name, SessionsLoggedOut: resp.SessionsLoggedOut, SessionsClosed: resp.SessionsClosed})
	}
	_, err = fmt.Fprintf(e.out, "removed target %s (%d sessions logged out, %d of them closed after the grace period)\n",
		*name, resp.SessionsLoggedOut, resp.SessionsClosed)
	return err
}

// graceWait is how much longer than -timeout to wait for a call that waits out a
// grace period of sec seconds (0: the server's default of 5).
func graceWait(sec uint) time.Duration {
	if sec == 0 {
		sec = 5
	}
	return time.Duration(sec) * time.Second
}

// forceWait is how much longer than -timeout a forced `lun rm` waits: atgtd waits
// for a hung backend call to be abandoned (io_timeout, 30 s by default, plus up to
// a quarter of it) before the LUN has drained.
const forceWait = 45 * time.Second

// lunFlags adds the flags that name a LUN: -target, -id, -initiator.
func lunFlags(f *cmdFlags) (target *string, id *uint64, initiator *string) {
	target = f.String("target", "", "the target's iSCSI name")
	id = f.Uint64("id", 0, "the LUN number")
	initiator = f.String("initiator", "", "the initiator whose own LUN it is (none: the target's shared LUNs)")
	return
}

func cmdLunAdd(e *env, f *cmdFlags, args []string) error {
	tg, id, ini := lunFlags(f)
	path := f.String("path", "", "the file or block device (relative: under atgtd's data directory)")
	var size sizeFlag
	f.Var(&size, "size", "the size in `BYTES` of a new or memory LUN (K, M, G, T suffixes)")
	backend := f.String("backend", "", `"file" (default), "memory", or an embedder's backend`)
	blockSize := f.Uint("block-size", 0, "logical block size, 512 (default) or 4096")
	readOnly := f.Bool("read-only", false, "serve it read-only")
	workers := f.Uint("workers", 0, "IO workers (default 4)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.require("target", "id"); err != nil {
		return err
	}
	lun := &pb.Lun{Id: *id, Backend: *backend, Path: *path, SizeBytes: uint64(size),
		BlockSize: uint32(*blockSize), ReadOnly: *readOnly, Workers: uint32(*workers)}
	resp, err := call(e, lunObject(*tg, *ini, *id), 0, e.client.AddLun, &pb.AddLunRequest{Target: *tg, Initiator: *ini, Lun: lun})
	if err != nil {
		return err
	}
	info := resp.GetLun()
	if info == nil { // a server that answers nothing: show what was asked
		info = &pb.LunInfo{Target: *tg, Initiator: *ini, Id: *id, Backend: *backend, Path: *path, SizeBytes: uint64(size),
			BlockSize: uint32(*blockSize), ReadOnly: *readOnly, Workers: uint32(*workers)}
	}
	if e.json {
		return writeJSON(e.out, toLunJSON(info))
	}
	_, err = fmt.Fprintf(e.out, "added %s: %s, %s\n", lunObject(info.Target, info.Initiator, info.Id), orDash(info.Path), human(info.SizeBytes))
	return err
}

func cmdLunRm(e *env, f *cmdFlags, args []string) error {
	tg, id, ini := lunFlags(f)
	force := f.Bool("force", false, "remove it even with tasks in flight, after they finish")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.require("target", "id"); err != nil {
		return err
	}
	extra := time.Duration(0)
	if *force {
		extra = forceWait
	}
	resp, err := call(e, lunObject(*tg, *ini, *id), extra, e.client.RemoveLun, &pb.RemoveLunRequest{Target: *tg, Initiator: *ini, Id: *id, Force: *force})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, lunRemovedJSON{lunRef: lunRef{*tg, *ini, *id}, DrainedTasks: resp.DrainedTasks})
	}
	_, err = fmt.Fprintf(e.out, "removed %s (%d tasks drained)\n", lunObject(*tg, *ini, *id), resp.DrainedTasks)
	return err
}

func cmdLunResize(e *env, f *cmdFlags, args []string) error {
	tg, id, ini := lunFlags(f)
	var size sizeFlag
	f.Var(&size, "size", "the new size in `BYTES` (K, M, G, T suffixes), a multiple of the block size")
	shrink := f.Bool("shrink", false, "allow a smaller size: the blocks past it are lost")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.require("target", "id", "size"); err != nil {
		return err
	}
	resp, err := call(e, lunObject(*tg, *ini, *id), 0, e.client.ResizeLun,
		&pb.ResizeLunRequest{Target: *tg, Initiator: *ini, Id: *id, SizeBytes: uint64(size), Shrink: *shrink})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, lunResizedJSON{lunRef: lunRef{*tg, *ini, *id}, OldSizeBytes: resp.OldSizeBytes, SizeBytes: resp.SizeBytes})
	}
	_, err = fmt.Fprintf(e.out, "resized %s: %s -> %s\n", lunObject(*tg, *ini, *id), human(resp.OldSizeBytes), human(resp.SizeBytes))
	return err
}

// cmdACL is acl add (add true) or acl rm.
func cmdACL(add bool) func(*env, *cmdFlags, []string) error {
	return func(e *env, f *cmdFlags, args []string) error {
		tg := f.String("target", "", "the target's iSCSI name")
		ini := f.String("initiator", "", "an initiator name")
		network := f.String("network", "", "a source network, CIDR or single address")
		var allowAny *bool
		if !add {
			allowAny = f.Bool("allow-any", false, "let the removal empty the list, which admits every initiator (or address)")
		}
		if _, err := f.parse(args, 0); err != nil {
			return err
		}
		if err := f.require("target"); err != nil {
			return err
		}
		if *ini == "" && *network == "" {
			return f.errorf("-initiator or -network (or both) is required")
		}
		object, verb := "access list of "+*tg, "removed from"
		var err error
		if add {
			verb = "added to"
			_, err = call(e, object, 0, e.client.AddAcl, &pb.AddAclRequest{Target: *tg, Initiator: *ini, Network: *network})
		} else {
			_, err = call(e, object, 0, e.client.RemoveAcl, &pb.RemoveAclRequest{Target: *tg, Initiator: *ini, Network: *network, AllowAny: *allowAny})
		}
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.out, aclJSON{Target: *tg, Initiator: *ini, Network: *network})
		}
		for _, s := range []string{*ini, *network} {
			if s != "" {
				fmt.Fprintf(e.out, "%s %s the access list of %s\n", s, verb, *tg)
			}
		}
		return nil
	}
}

func cmdSessionLogout(e *env, f *cmdFlags, args []string) error {
	grace := f.Uint("grace", 0, "seconds the initiator has to log out before the session is closed (0: the server's default, 5)")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	tsih, err := strconv.ParseUint(pos[0], 0, 16)
	if err != nil || tsih == 0 {
		return f.errorf("TSIH %q is not a session's TSIH (1..65535; atgtctl sessions lists them)", pos[0])
	}
	resp, err := call(e, "session "+pos[0], graceWait(*grace), e.client.LogoutSession,
		&pb.LogoutSessionRequest{Tsih: uint32(tsih), GraceSeconds: uint32(*grace)})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, logoutJSON{TSIH: uint32(tsih), Closed: resp.Closed})
	}
	how := "logged out"
	if resp.Closed {
		how = "closed: the initiator did not log out within the grace period"
	}
	_, err = fmt.Fprintf(e.out, "session %d %s\n", tsih, how)
	return err
}

func cmdFaultsSet(e *env, f *cmdFlags, args []string) error {
	tg, id, ini := lunFlags(f)
	file := f.String("file", "", `a JSON array of atgt.v1.Fault, as in the config's "faults"`)
	var inline listFlag
	f.Var(&inline, "fault", `one fault as JSON, e.g. '{"op":"read","kind":"error"}' (repeat for more; after -file's)`)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.require("target", "id"); err != nil {
		return err
	}
	if *file == "" && len(inline) == 0 {
		return f.errorf("-file or -fault is required (faults clear removes them)")
	}
	faults, err := readFaults(*file, inline)
	if err != nil {
		return err
	}
	object := "faults of " + lunObject(*tg, *ini, *id)
	if _, err := call(e, object, 0, e.client.SetFaults, &pb.SetFaultsRequest{Target: *tg, Initiator: *ini, Id: *id, Faults: faults}); err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, faultsJSON{lunRef: lunRef{*tg, *ini, *id}, Faults: len(faults)})
	}
	_, err = fmt.Fprintf(e.out, "%s: %d set\n", object, len(faults))
	return err
}

// readFaults reads the faults of -file (a JSON array) and of each -fault, strictly:
// an unknown field is an error naming the fault.
func readFaults(file string, inline []string) ([]*pb.Fault, error) {
	var faults []*pb.Fault
	one := func(where string, raw []byte) error {
		ft := &pb.Fault{}
		if err := protojson.Unmarshal(raw, ft); err != nil {
			return &usageError{msg: fmt.Sprintf("%s: %v", where, err)}
		}
		faults = append(faults, ft)
		return nil
	}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("%s: not a JSON array of faults: %v", file, err)}
		}
		for i, r := range list {
			if err := one(fmt.Sprintf("%s: faults[%d]", file, i), r); err != nil {
				return nil, err
			}
		}
	}
	for i, s := range inline {
		if err := one(fmt.Sprintf("-fault #%d %s", i+1, s), []byte(s)); err != nil {
			return nil, err
		}
	}
	return faults, nil
}

func cmdFaultsClear(e *env, f *cmdFlags, args []string) error {
	tg, id, ini := lunFlags(f)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.require("target", "id"); err != nil {
		return err
	}
	object := "faults of " + lunObject(*tg, *ini, *id)
	if _, err := call(e, object, 0, e.client.ClearFaults, &pb.ClearFaultsRequest{Target: *tg, Initiator: *ini, Id: *id}); err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, faultsJSON{lunRef: lunRef{*tg, *ini, *id}})
	}
	_, err := fmt.Fprintf(e.out, "%s: cleared\n", object)
	return err
}

// cmdConfigApply reads FILE exactly as atgtd reads its -config (target.LoadConfig:
// unknown fields are errors, secret files relative to FILE) and applies it.
func cmdConfigApply(e *env, f *cmdFlags, args []string) error {
	dryRun := f.Bool("dry-run", false, "only list what would change")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(pos[0]) // so that its secret files resolve the same for atgtd
	if err != nil {
		return err
	}
	cfg, err := target.LoadConfig(abs)
	if err != nil {
		return err
	}
	// atgtd does not know FILE's directory: send its relative secret files absolute.
	target.ResolveSecretFiles(cfg, filepath.Dir(abs))
	resp, err := call(e, "config "+pos[0], 0, e.client.ApplyConfig, &pb.ApplyConfigRequest{Config: cfg, DryRun: *dryRun})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.out, applyJSON{Changes: orEmpty(resp.Changes), Applied: resp.Applied, DryRun: *dryRun})
	}
	for _, c := range resp.Changes {
		fmt.Fprintln(e.out, c)
	}
	switch {
	case len(resp.Changes) == 0:
		_, err = fmt.Fprintln(e.out, "no changes")
	case *dryRun:
		_, err = fmt.Fprintf(e.out, "dry run: %d changes not applied\n", len(resp.Changes))
	default:
		_, err = fmt.Fprintf(e.out, "applied %d changes\n", len(resp.Changes))
	}
	return err
}
