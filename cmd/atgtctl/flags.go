package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// cmdFlags is one command's flag set and the synopsis its errors print.
type cmdFlags struct {
	*flag.FlagSet
	e     *env
	usage string // "atgtctl lun add -target IQN ..."
}

// newFlags starts the flag set of command name with synopsis args.
func newFlags(e *env, name, args string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &cmdFlags{FlagSet: fs, e: e, usage: strings.TrimSpace("atgtctl " + name + " " + args)}
}

// parse parses args, letting flags come before or after the positional arguments
// (`session logout 5 -grace 3` and `config apply FILE --dry-run` read naturally),
// and checks that there are exactly npos of those. -h prints the command's help.
func (f *cmdFlags) parse(args []string, npos int) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(f.e.out, "usage: %s\n%s", f.usage, flagDefaults(f.FlagSet))
				return nil, errHelp
			}
			return nil, f.errorf("%v", err)
		}
		if f.NArg() == 0 {
			break
		}
		pos = append(pos, f.Arg(0))
		args = f.Args()[1:]
	}
	if len(pos) != npos {
		if len(pos) > npos {
			return nil, f.errorf("unexpected argument %q", pos[npos])
		}
		return nil, f.errorf("missing argument")
	}
	return pos, nil
}

// require checks that each named flag was given.
func (f *cmdFlags) require(names ...string) error {
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, n := range names {
		if !set[n] {
			return f.errorf("-%s is required", n)
		}
	}
	return nil
}

// given reports whether the flag was on the command line.
func (f *cmdFlags) given(name string) bool {
	found := false
	f.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// errorf is a usage error of this command, with its synopsis.
func (f *cmdFlags) errorf(format string, args ...any) error {
	return &usageError{msg: f.Name() + ": " + fmt.Sprintf(format, args...), usage: f.usage}
}

// sizeFlag is a number of bytes, with an optional K, M, G or T suffix (KiB...).
type sizeFlag uint64

func (s *sizeFlag) String() string { return strconv.FormatUint(uint64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	*s = sizeFlag(n)
	return err
}

// sizeUnits are the suffixes parseSize takes, all powers of 1024 as disk sizes are.
var sizeUnits = map[string]uint64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

// sizePattern is a number and an optional unit: 4096, 10G, 10GiB, 512M, 1 T.
var sizePattern = regexp.MustCompile(`^(?i)([0-9]+) *([KMGT]?)(?:I?B)?$`)

// parseSize reads a number of bytes, "4096" or "10G".
func parseSize(v string) (uint64, error) {
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil || (m[2] == "" && !isDigits(v)) {
		return 0, fmt.Errorf("%q is not a size in bytes (e.g. 1073741824 or 1G)", v)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	unit := sizeUnits[strings.ToUpper(m[2])]
	if err != nil || n > math.MaxUint64/unit {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return n * unit, nil
}

// isDigits reports whether s is all decimal digits (a plain number of bytes).
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// lunSpecs collects target add's -lun-path and -lun-size in command-line order: each
// -lun-size is the size of the -lun-path before it, so a block device (no size) and
// a new file (a size) can be mixed. The LUNs are numbered 0, 1, ... in that order.
type lunSpecs struct {
	paths []string
	sizes []uint64 // 0: none given
	err   error
}

// pathFlag and sizeOfLast are lunSpecs' two faces as flag values.
type (
	pathFlag   struct{ *lunSpecs }
	sizeOfLast struct{ *lunSpecs }
)

func (p pathFlag) String() string { return "" }

func (p pathFlag) Set(v string) error {
	p.paths = append(p.paths, v)
	p.sizes = append(p.sizes, 0)
	return nil
}

func (s sizeOfLast) String() string { return "" }

func (s sizeOfLast) Set(v string) error {
	if len(s.paths) == 0 {
		return errors.New("-lun-size must follow the -lun-path it sizes")
	}
	if s.sizes[len(s.sizes)-1] != 0 {
		return fmt.Errorf("-lun-path %s has two -lun-size", s.paths[len(s.paths)-1])
	}
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	s.sizes[len(s.sizes)-1] = n
	return nil
}
