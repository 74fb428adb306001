// Package faults injects configured failures into a LUN's backend and LUN actor, as
// SPDK's bdev_error and bdev_delay do, so that initiators, multipath and clusters can
// be tested against a misbehaving disk. An Injector holds a LUN's list of faults
// behind an atomic pointer (so an admin interface can set or clear them at runtime),
// wraps the LUN's backend, and is consulted by the LUN actor for every command.
package faults

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Op is a set of backend operations. A backend call is exactly one of Read, Write,
// Sync and Unmap; a command may make several (COMPARE AND WRITE reads and writes), or
// none (Other).
type Op uint8

// The operations a fault can be limited to.
const (
	// Read is Backend.ReadAt.
	Read Op = 1 << iota
	// Write is Backend.WriteAt, stable (FUA) or not.
	Write
	// Sync is Backend.Sync (fdatasync).
	Sync
	// Unmap is Backend.Unmap (one call per range).
	Unmap
	// Other is a command that touches no medium (INQUIRY, TEST UNIT READY): only a
	// lunPanic fault with op Any and no range matches it.
	Other
	// Any matches every operation.
	Any = Read | Write | Sync | Unmap | Other
)

// opNames are the config's names, in bit order.
var opNames = []string{"read", "write", "sync", "unmap", "other"}

// ParseOp returns the Op of a config name ("" is "any").
func ParseOp(s string) (Op, bool) {
	switch s {
	case "", "any":
		return Any, true
	case "read":
		return Read, true
	case "write":
		return Write, true
	case "sync":
		return Sync, true
	case "unmap":
		return Unmap, true
	}
	return 0, false
}

// String names the op as the config does; a set is joined with "|".
func (o Op) String() string {
	if o == Any {
		return "any"
	}
	var names []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Kind is what a fault does when it fires.
type Kind uint8

// The kinds of fault. The zero Kind is invalid, so a forgotten kind never fires.
const (
	// Error fails the call with an error that wraps ErrInjected.
	Error Kind = iota + 1
	// Panic panics in the calling IO worker with a *backend.InjectedPanic.
	Panic
	// Hang holds the call until the faults are set or cleared, or for Delay when
	// that is non-zero.
	Hang
	// Delay holds the call for Delay (or until the faults are set or cleared).
	Delay
	// LUNPanic panics the LUN actor while it handles a matching command
	// (Injector.Command); backend calls ignore it.
	LUNPanic
	numKinds
)

// kindNames are the config's names, indexed by Kind.
var kindNames = [numKinds]string{"", "error", "panic", "hang", "delay", "lunPanic"}

// KindNames lists the config's kind names, for messages that offer the choices.
const KindNames = "error, panic, hang, delay or lunPanic"

// ParseKind returns the Kind of a config name.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// String names the kind as the config does.
func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ErrInjected is wrapped by every error an Error fault returns, so that a test or a
// log reader can tell an injected failure from a real one.
var ErrInjected = errors.New("injected fault")

// Fault is one configured failure. The zero values of Offset, Length and Count mean
// no limit; Probability has no such default here (the config's unset probability is
// converted to 1 by its reader).
type Fault struct {
	// Op is the operations the fault applies to.
	Op Op
	// Kind is what it does.
	Kind Kind
	// Probability is the chance, 0..1, that a matching call fires the fault: 1
	// always, 0 never.
	Probability float64
	// Delay is how long a Delay waits, or a Hang at most (0: until cleared).
	Delay time.Duration
	// Offset and Length limit the fault to the calls that touch a byte of
	// [Offset, Offset+Length); Length 0 runs to the end. Both 0: every call,
	// including those without a range (Sync).
	Offset, Length int64
	// Count is the most times the fault fires; 0 is unlimited.
	Count uint64
}

// String describes the fault for logs and messages.
func (f Fault) String() string {
	s := fmt.Sprintf("%s on %s", f.Kind, f.Op)
	if f.ranged() {
		s += fmt.Sprintf(" at [%d, +%d)", f.Offset, f.Length)
	}
	if f.Delay > 0 {
		s += fmt.Sprintf(" for %v", f.Delay)
	}
	if f.Probability < 1 {
		s += fmt.Sprintf(" p=%g", f.Probability)
	}
	if f.Count > 0 {
		s += fmt.Sprintf(" count=%d", f.Count)
	}
	return s
}

// ranged reports whether the fault is limited to a byte range.
func (f *Fault) ranged() bool { return f.Offset != 0 || f.Length != 0 }

// matches reports whether a call or command doing ops over [off, off+n) is one the
// fault applies to; n == 0 is a call without a range, which only a fault without a
// range matches.
func (f *Fault) matches(ops Op, off, n int64) bool {
	if f.Op&ops == 0 {
		return false
	}
	if !f.ranged() {
		return true
	}
	if n <= 0 {
		return false
	}
	end := int64(math.MaxInt64)
	if f.Length > 0 && f.Offset <= math.MaxInt64-f.Length {
		end = f.Offset + f.Length
	}
	return off < end && off > f.Offset-n
}
