// Command atgtctl administers a running atgtd through its admin socket: it lists
// targets, LUNs and sessions, adds, removes and resizes LUNs, changes access lists,
// logs sessions out, sets faults and applies configs, all without a restart.
// Run `atgtctl -h` for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/atgt/atgt/actors/admin"
)

// Exit codes, documented in usage and the README; scripts test them.
const (
	exitOK    = 0 // the command did what it was asked
	exitFail  = 1 // the operation failed: the server refused it, or atgtd is not reachable
	exitUsage = 2 // the command line is wrong: unknown command or flag, missing argument
)

// defaultSocket is the default data directory's socket, as atgtd run from the same
// directory without -data or -admin-socket makes it.
var defaultSocket = admin.DefaultSocket("atgt-data")

// defaultTokenFile is the default data directory's admin token, which atgtd makes
// when it serves -admin-addr.
var defaultTokenFile = admin.DefaultTokenFile("atgt-data")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageText is atgtctl -h.
const usageText = `usage: atgtctl [-socket PATH | -addr HOST:PORT [-token-file FILE]] [-o table|json|chrome] [-timeout D] COMMAND [ARGS]

Administer a running atgtd through its admin socket. Changes apply at once, without
a restart, and atgtd writes them to its config file.

Commands:
%s
Global flags (before the command):
%s
Numbers of bytes take a K, M, G or T suffix (powers of 1024): -size 10G.
Every command takes -h for its own flags.

-o json prints stable JSON for scripts (numbers as numbers, lists as arrays, [] when
empty); table output is for people and may change.

Exit status: 0 success; 1 the operation failed (the server refused it, or atgtd is
not reachable); 2 usage error (unknown command or flag, missing argument).
`

// env is what every command runs with.
type env struct {
	client  adminClient
	socket  string
	addr    string // -addr: atgtd's TCP admin address, used instead of socket
	json    bool
	chrome  bool // -o chrome: the trace commands write Chrome trace-event JSON
	timeout time.Duration
	out     io.Writer
}

// where is what atgtctl talks to, for messages: "socket PATH" or "address HOST:PORT".
func (e *env) where() string {
	if e.addr != "" {
		return "address " + e.addr
	}
	return "socket " + e.socket
}

// run is atgtctl with its arguments and outputs, returning the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	e, rest, err := parseGlobal(args, stdout)
	if err == nil && len(rest) == 0 {
		err = usageErrorf("no command given (atgtctl -h lists them)")
	}
	if err == nil {
		err = dispatch(e, rest)
	}
	return report(err, stderr)
}

// parseGlobal parses the flags before the command.
func parseGlobal(args []string, stdout io.Writer) (*env, []string, error) {
	fs := flag.NewFlagSet("atgtctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socket", defaultSocket, "atgtd's admin socket (atgtd -admin-socket)")
	addr := fs.String("addr", "", "use atgtd's loopback TCP admin address instead of the socket (atgtd -admin-addr)")
	tokenFile := fs.String("token-file", defaultTokenFile, "with -addr: the file holding atgtd's admin token (atgtd -admin-token-file)")
	output := fs.String("o", "table", "output: table (for people), json (for scripts) or chrome (trace commands: Chrome trace-event JSON)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for atgtd's answer (commands with -grace wait that much longer)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usageText, commandList(), flagDefaults(fs))
			return nil, nil, errHelp
		}
		return nil, nil, usageErrorf("%v", err)
	}
	if *output != "table" && *output != "json" && *output != "chrome" {
		return nil, nil, usageErrorf("-o %q is not table, json or chrome", *output)
	}
	if *timeout <= 0 {
		return nil, nil, usageErrorf("-timeout %v is not positive", *timeout)
	}
	e := &env{client: newClient(*socket), socket: *socket, json: *output == "json", chrome: *output == "chrome",
		timeout: *timeout, out: stdout}
	if *addr != "" {
		token, err := admin.ReadToken(*tokenFile)
		if err != nil {
			return nil, nil, err
		}
		e.client, e.addr = newTCPClient(*addr, token), *addr
	}
	return e, fs.Args(), nil
}

// dispatch finds the command named by the first one or two words of args and runs
// it with the rest.
func dispatch(e *env, args []string) error {
	if c, ok := commands[args[0]]; ok {
		return c.run(e, newFlags(e, c.name, c.args), args[1:])
	}
	if len(args) > 1 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(e, newFlags(e, c.name, c.args), args[2:])
		}
	}
	var subs []string
	for name := range commands {
		if w, sub, ok := strings.Cut(name, " "); ok && w == args[0] {
			subs = append(subs, sub)
		}
	}
	if len(subs) > 0 {
		sort.Strings(subs)
		if len(args) == 1 {
			return usageErrorf("%s needs a subcommand: %s", args[0], strings.Join(subs, ", "))
		}
		return usageErrorf("unknown command %q: %s takes %s", args[0]+" "+args[1], args[0], strings.Join(subs, ", "))
	}
	return usageErrorf("unknown command %q (atgtctl -h lists them)", args[0])
}

// commandList is the command summary of usageText, in the table's order.
func commandList() string {
	var b strings.Builder
	for _, c := range commandOrder {
		fmt.Fprintf(&b, "  %s\n        %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	return b.String()
}

// flagDefaults renders a flag set's flags as flag.PrintDefaults does.
func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// report prints err, if any, and returns the exit status it calls for.
func report(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "atgtctl: %s\n", ue.msg)
		if ue.usage != "" {
			fmt.Fprintf(stderr, "usage: %s\n", ue.usage)
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "atgtctl: %v\n", err)
		return exitFail
	}
}

// errHelp is returned when -h was asked for and printed: success, nothing more to say.
var errHelp = errors.New("help printed")

// usageError is a wrong command line: exit status 2. usage, when set, is the
// command's synopsis, printed after the message.
type usageError struct{ msg, usage string }

func (e *usageError) Error() string { return e.msg }

// usageErrorf makes a usageError.
func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
