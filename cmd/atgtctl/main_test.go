package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/admin/admintest"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

const (
	vm1 = "iqn.2026-11.dev.atgt:vm1"
	vm2 = "iqn.2026-11.dev.atgt:vm2"
)

// daemon serves a sample admintest.Fake on a temp unix socket, as atgtd would.
type daemon struct {
	fake   *admintest.Fake
	socket string
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	fake := admintest.New(admintest.Sample())
	sock := filepath.Join(t.TempDir(), admin.SocketName)
	srv, err := admin.Serve(fake, admin.ServerConfig{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &daemon{fake: fake, socket: sock}
}

// ctl runs atgtctl against the daemon's socket with args after -socket.
func (d *daemon) ctl(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"-socket", d.socket}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// lastRequest is the last request the fake got.
func (d *daemon) lastRequest(t *testing.T) proto.Message {
	t.Helper()
	reqs := d.fake.Requests()
	if len(reqs) == 0 {
		t.Fatal("the daemon got no request")
	}
	return reqs[len(reqs)-1]
}

// TestLunsJSON: `atgtctl -o json luns` prints exactly this array: every LunInfo
// field, lowerCamel, numbers as numbers.
func TestLunsJSON(t *testing.T) {
	d := startDaemon(t)
	code, out, errs := d.ctl("-o", "json", "luns", "-target", vm2)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `[
  {
    "target": "iqn.2026-11.dev.atgt:vm2",
    "initiator": "iqn.2026-11.dev.host:vm2",
    "id": 0,
    "backend": "file",
    "path": "vm2-root.img",
    "sizeBytes": 2147483648,
    "blockSize": 512,
    "readOnly": true,
    "workers": 4,
    "ioPolicy": "threaded",
    "faults": 0,
    "state": "online",
    "reason": ""
  }
]
`
	if out != want {
		t.Fatalf("luns -target vm2 printed\n%s\nwant\n%s", out, want)
	}
	_, out, _ = d.ctl("-o", "json", "luns")
	var all []map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 3 {
		t.Fatalf("luns: %v, %d LUNs in %s", err, len(all), out)
	}
	if all[0]["target"] != vm1 || all[0]["id"] != 0.0 || all[0]["sizeBytes"] != float64(10<<30) || all[1]["path"] != "vm1-data.img" {
		t.Fatalf("luns[0..1] = %v", all[:2])
	}
}

// TestSessionsJSON: `atgtctl -o json sessions` prints exactly this array; an empty
// list is [].
func TestSessionsJSON(t *testing.T) {
	d := startDaemon(t)
	code, out, errs := d.ctl("-o", "json", "sessions")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `[
  {
    "initiator": "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test",
    "target": "iqn.2026-11.dev.atgt:vm1",
    "tsih": 1,
    "isid": "400001370000",
    "address": "127.0.0.1:51234",
    "portal": "127.0.0.1:3260",
    "keys": {
      "DataDigest": "None",
      "HeaderDigest": "None",
      "MaxRecvDataSegmentLength": "262144"
    },
    "tasksInFlight": 2,
    "bytesRead": 1048576,
    "bytesWritten": 524288,
    "uptimeSeconds": 90
  }
]
`
	if out != want {
		t.Fatalf("sessions printed\n%s\nwant\n%s", out, want)
	}
	for _, args := range [][]string{{"sessions", "-target", vm2}, {"stats", "-target", vm2 + "x"}} {
		code, out, _ := d.ctl(append([]string{"-o", "json"}, args...)...)
		if args[0] == "sessions" && (code != exitOK || out != "[]\n") {
			t.Errorf("%v: exit %d, printed %q, want []", args, code, out)
		}
		if args[0] == "stats" && (code != exitFail || out != "") {
			t.Errorf("%v: exit %d, printed %q, want exit 1 and nothing on stdout", args, code, out)
		}
	}
}

// TestEveryCommandJSON: each command succeeds against the fake and prints one JSON
// value with -o json, with no null where a list belongs.
func TestEveryCommandJSON(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	faults := filepath.Join(dir, "faults.json")
	writeFile(t, faults, `[{"op":"read","kind":"error"},{"kind":"delay","delayMs":5}]`)
	cfg := filepath.Join(dir, "atgt.json")
	writeFile(t, cfg, `{"targets":[{"name":"`+vm1+`","luns":[{"id":0,"path":"a.img","sizeBytes":"1048576"}]}]}`)
	for _, args := range [][]string{
		{"status"}, {"targets"}, {"luns"}, {"sessions"}, {"stats"}, {"config", "show"},
		{"target", "add", "-name", "iqn.2026-11.dev.atgt:new"},
		{"lun", "add", "-target", vm1, "-id", "2", "-path", "x.img", "-size", "1M"},
		{"lun", "resize", "-target", vm1, "-id", "2", "-size", "2M"},
		{"lun", "rm", "-target", vm1, "-id", "2"},
		{"acl", "add", "-target", vm1, "-initiator", "iqn.x"},
		{"acl", "rm", "-target", vm1, "-initiator", "iqn.x"},
		{"faults", "set", "-target", vm1, "-id", "0", "-file", faults},
		{"faults", "clear", "-target", vm1, "-id", "0"},
		{"session", "logout", "1"},
		{"target", "rm", "-name", "iqn.2026-11.dev.atgt:new"},
		{"config", "apply", cfg, "--dry-run"},
	} {
		code, out, errs := d.ctl(append([]string{"-o", "json"}, args...)...)
		if code != exitOK || !json.Valid([]byte(out)) || strings.Contains(out, "null") {
			t.Errorf("-o json %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
		}
	}
	_, out, _ := d.ctl("-o", "json", "config", "apply", cfg, "--dry-run")
	if out != "{\n  \"changes\": [\n    \"remove target iqn.2026-11.dev.atgt:vm2\"\n  ],\n  \"applied\": false,\n  \"dryRun\": true\n}\n" {
		t.Errorf("config apply --dry-run printed %s", out)
	}
	if _, out, _ := d.ctl("-o", "json", "lun", "resize", "-target", vm1, "-id", "1", "-size", "2G"); out !=
		"{\n  \"target\": \"iqn.2026-11.dev.atgt:vm1\",\n  \"initiator\": \"\",\n  \"id\": 1,\n  \"oldSizeBytes\": 1073741824,\n  \"sizeBytes\": 2147483648\n}\n" {
		t.Errorf("lun resize printed %s", out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRequests: each command form sends the request its flags describe.
func TestRequests(t *testing.T) {
	dir := t.TempDir()
	faults := filepath.Join(dir, "faults.json")
	writeFile(t, faults, `[{"op":"write","kind":"hang","offset":"4096","length":"512"}]`)
	targetFile := filepath.Join(dir, "t.json")
	writeFile(t, targetFile, `{"name":"iqn.2026-11.dev.atgt:f","chap":{"user":"u","secretFile":"s.secret"},"luns":[{"id":3,"backend":"memory","sizeBytes":"4096"}]}`)
	cfgFile := filepath.Join(dir, "atgt.json")
	writeFile(t, cfgFile, `{"queueDepth":64,"targets":[{"name":"`+vm1+`","luns":[{"id":0,"path":"a.img","sizeBytes":"1048576"}]}]}`)
	one := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		args []string
		want proto.Message
	}{
		{[]string{"luns"}, &pb.ListLunsRequest{}},
		{[]string{"luns", "-target", vm1}, &pb.ListLunsRequest{Target: vm1}},
		{[]string{"sessions", "-target", vm1, "-keys"}, &pb.ListSessionsRequest{Target: vm1}},
		{[]string{"stats", "-target", vm1}, &pb.StatsRequest{Target: vm1}},
		{[]string{"target", "add", "-name", "iqn.2026-11.dev.atgt:n", "-alias", "n", "-initiator", "iqn.a", "-initiator", "iqn.b",
			"-network", "10.0.0.0/8", "-lun-path", "a.img", "-lun-size", "1G", "-lun-path", "/dev/vg/b", "-lun-path", "c.img", "-lun-size", "4096"},
			&pb.AddTargetRequest{Target: &pb.Target{Name: "iqn.2026-11.dev.atgt:n", Alias: "n", AllowedInitiators: []string{"iqn.a", "iqn.b"},
				AllowedNetworks: []string{"10.0.0.0/8"}, Luns: []*pb.Lun{
					{Id: 0, Path: "a.img", SizeBytes: 1 << 30}, {Id: 1, Path: "/dev/vg/b"}, {Id: 2, Path: "c.img", SizeBytes: 4096}}}}},
		{[]string{"target", "add", "-file", targetFile},
			&pb.AddTargetRequest{Target: &pb.Target{Name: "iqn.2026-11.dev.atgt:f", Chap: &pb.Chap{User: "u", SecretFile: filepath.Join(dir, "s.secret")},
				Luns: []*pb.Lun{{Id: 3, Backend: "memory", SizeBytes: 4096}}}}},
		{[]string{"target", "rm", "-name", vm2, "-grace", "1"}, &pb.RemoveTargetRequest{Name: vm2, GraceSeconds: 1}},
		{[]string{"lun", "add", "-target", vm1, "-id", "4", "-path", "d.img", "-size", "10G", "-backend", "file",
			"-block-size", "4096", "-read-only", "-workers", "2"},
			&pb.AddLunRequest{Target: vm1, Lun: &pb.Lun{Id: 4, Backend: "file", Path: "d.img", SizeBytes: 10 << 30, BlockSize: 4096, ReadOnly: true, Workers: 2}}},
		{[]string{"lun", "add", "-target", vm2, "-initiator", "iqn.2026-11.dev.host:vm2", "-id", "1", "-path", "e.img", "-size", "1048576"},
			&pb.AddLunRequest{Target: vm2, Initiator: "iqn.2026-11.dev.host:vm2", Lun: &pb.Lun{Id: 1, Path: "e.img", SizeBytes: 1 << 20}}},
		{[]string{"lun", "resize", "-target", vm1, "-id", "1", "-size", "512M", "--shrink"},
			&pb.ResizeLunRequest{Target: vm1, Id: 1, SizeBytes: 512 << 20, Shrink: true}},
		{[]string{"lun", "rm", "-target", vm1, "-id", "1", "-force"}, &pb.RemoveLunRequest{Target: vm1, Id: 1, Force: true}},
		{[]string{"acl", "add", "-target", vm1, "-initiator", "iqn.c", "-network", "192.0.2.0/24"},
			&pb.AddAclRequest{Target: vm1, Initiator: "iqn.c", Network: "192.0.2.0/24"}},
		{[]string{"acl", "rm", "-target", vm1, "-network", "127.0.0.0/8"}, &pb.RemoveAclRequest{Target: vm1, Network: "127.0.0.0/8"}},
		{[]string{"acl", "rm", "-target", vm1, "-network", "127.0.0.0/8", "-allow-any"}, &pb.RemoveAclRequest{Target: vm1, Network: "127.0.0.0/8", AllowAny: true}},
		{[]string{"faults", "set", "-target", vm1, "-id", "0", "-file", faults, "-fault", `{"op":"read","kind":"error","probability":1}`},
			&pb.SetFaultsRequest{Target: vm1, Id: 0, Faults: []*pb.Fault{
				{Op: "write", Kind: "hang", Offset: 4096, Length: 512}, {Op: "read", Kind: "error", Probability: one(1)}}}},
		{[]string{"faults", "clear", "-target", vm1, "-id", "0"}, &pb.ClearFaultsRequest{Target: vm1}},
		{[]string{"session", "logout", "1", "-grace", "2"}, &pb.LogoutSessionRequest{Tsih: 1, GraceSeconds: 2}},
		{[]string{"config", "apply", cfgFile, "-dry-run"}, &pb.ApplyConfigRequest{DryRun: true, Config: &pb.Config{QueueDepth: 64,
			Targets: []*pb.Target{{Name: vm1, Luns: []*pb.Lun{{Id: 0, Path: "a.img", SizeBytes: 1 << 20}}}}}}},
	} {
		d := startDaemon(t)
		code, _, errs := d.ctl(tc.args...)
		if code != exitOK {
			t.Errorf("%s: exit %d: %s", strings.Join(tc.args, " "), code, errs)
			continue
		}
		if got := d.lastRequest(t); !proto.Equal(got, tc.want) {
			t.Errorf("%s sent\n%v\nwant\n%v", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// TestFailures: exit status 1 for a failed operation and 2 for a wrong command
// line, with a message that names the object and what is wrong, on stderr only.
func TestFailures(t *testing.T) {
	d := startDaemon(t)
	badCfg := filepath.Join(t.TempDir(), "bad.json")
	writeFile(t, badCfg, `{"targets":[{"name":"x","lunz":[]}]}`)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"lun", "rm", "-target", vm1, "-id", "3"}, exitFail, "atgtctl: lun 3 of iqn.2026-11.dev.atgt:vm1: no such LUN\n"},
		{[]string{"lun", "resize", "-target", vm1, "-id", "0", "-size", "1G"}, exitFail,
			"atgtctl: lun 0 of iqn.2026-11.dev.atgt:vm1: 1073741824 bytes is smaller than the LUN's 10737418240; shrinking loses data: pass shrink\n"},
		{[]string{"luns", "-target", "iqn.nope"}, exitFail, "atgtctl: luns of iqn.nope: no such target\n"},
		{[]string{"target", "add", "-name", vm1}, exitFail, "atgtctl: target iqn.2026-11.dev.atgt:vm1: target exists\n"},
		{[]string{"session", "logout", "9"}, exitFail, "atgtctl: session 9: no such session\n"},
		{[]string{"faults", "set", "-target", vm1, "-id", "0", "-fault", `{"op":"read"}`}, exitFail,
			"atgtctl: faults of lun 0 of iqn.2026-11.dev.atgt:vm1: faults[0].kind: required\n"},
		{[]string{"config", "apply", badCfg}, exitFail, `unknown field "lunz"`},
		{[]string{"config", "apply", filepath.Join(t.TempDir(), "missing.json")}, exitFail, "no such file"},
		{[]string{"frob"}, exitUsage, "atgtctl: unknown command \"frob\""},
		{[]string{"lun"}, exitUsage, "atgtctl: lun needs a subcommand: add, resize, rm\n"},
		{[]string{"lun", "add", "-target", vm1}, exitUsage, "atgtctl: lun add: -id is required\nusage: atgtctl lun add -target IQN -id N"},
		{[]string{"lun", "add", "-target", vm1, "-id", "x"}, exitUsage, "invalid value \"x\" for flag -id"},
		{[]string{"lun", "add", "-target", vm1, "-id", "1", "-size", "1.5G"}, exitUsage, "\"1.5G\" is not a size in bytes"},
		{[]string{"lun", "rm", "-target", vm1, "-id", "1", "-frob"}, exitUsage, "flag provided but not defined: -frob"},
		{[]string{"lun", "resize", "-target", vm1, "-id", "1"}, exitUsage, "-size is required"},
		{[]string{"luns", "extra"}, exitUsage, "unexpected argument \"extra\""},
		{[]string{"session", "logout"}, exitUsage, "session logout: missing argument"},
		{[]string{"session", "logout", "abc"}, exitUsage, "TSIH \"abc\" is not a session's TSIH"},
		{[]string{"acl", "add", "-target", vm1}, exitUsage, "-initiator or -network (or both) is required"},
		{[]string{"faults", "set", "-target", vm1, "-id", "0"}, exitUsage, "-file or -fault is required"},
		{[]string{"faults", "set", "-target", vm1, "-id", "0", "-fault", `{"op":"read","kind":"error","bogus":1}`}, exitUsage, "-fault #1"},
		{[]string{"target", "add", "-lun-size", "1G", "-name", "x"}, exitUsage, "-lun-size must follow the -lun-path"},
		{[]string{"target", "add", "-name", "x", "-file", "t.json"}, exitUsage, "-file takes no other flags"},
		{[]string{"config", "apply"}, exitUsage, "config apply: missing argument"},
		{[]string{"-o", "yaml", "luns"}, exitUsage, "-o \"yaml\" is not table, json or chrome"},
		{[]string{"-bogus", "luns"}, exitUsage, "flag provided but not defined: -bogus"},
		{nil, exitUsage, "no command given"},
	} {
		code, out, errs := d.ctl(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.stderr) || out != "" {
			t.Errorf("atgtctl %s: exit %d, stdout %q, stderr %q; want exit %d and stderr with %q",
				strings.Join(tc.args, " "), code, out, errs, tc.code, tc.stderr)
		}
	}
}

// TestUnreachable: with no daemon on the socket atgtctl exits 1 and says to check
// that atgtd runs, naming the socket.
func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "atgtd.sock")
	var out, errb bytes.Buffer
	code := run([]string{"-socket", sock, "luns"}, &out, &errb)
	want := "atgtctl: luns: is atgtd running? socket " + sock + ": dial unix " + sock + ": connect: no such file or directory\n"
	if code != exitFail || errb.String() != want {
		t.Fatalf("exit %d, stderr %q; want exit 1 and %q", code, errb.String(), want)
	}
}

// TestHelp: -h, global or per command, prints help on stdout and exits 0; the
// global help lists every command and the exit codes.
func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != exitOK || errb.Len() != 0 {
		t.Fatalf("-h: exit %d, stderr %q", code, errb.String())
	}
	for _, c := range commandOrder {
		if !strings.Contains(out.String(), "  "+c.name) {
			t.Errorf("-h does not list %q", c.name)
		}
	}
	if !strings.Contains(out.String(), "Exit status: 0 success; 1 the operation failed") {
		t.Errorf("-h does not document the exit codes:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"lun", "resize", "-h"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "-shrink") {
		t.Fatalf("lun resize -h: exit %d, %q", code, out.String())
	}
}

// TestCommandTable: every command's synopsis starts with the forms the issue fixes.
func TestCommandTable(t *testing.T) {
	want := map[string]string{
		"lun add":        "-target IQN -id N -path FILE -size BYTES",
		"lun resize":     "-target IQN -id N -size BYTES",
		"lun rm":         "-target IQN -id N",
		"session logout": "TSIH",
		"config apply":   "FILE",
	}
	for name, args := range want {
		if c, ok := commands[name]; !ok || !strings.HasPrefix(c.args, args) {
			t.Errorf("command %q: synopsis %q, want it to start with %q", name, c.args, args)
		}
	}
	names := make([]string, 0, len(commandOrder))
	for _, c := range commandOrder {
		names = append(names, c.name)
	}
	for _, n := range []string{"status", "targets", "luns", "sessions", "stats", "target add", "target rm", "acl add", "acl rm",
		"faults set", "faults clear", "config show"} {
		if !slices.Contains(names, n) {
			t.Errorf("command %q missing", n)
		}
	}
}
