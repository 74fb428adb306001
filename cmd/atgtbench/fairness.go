package main

// What the normal mode makes the two targets share, and how results.md says so: the
// negotiable iSCSI keys each target offers, the IO threads each runs, the order of
// the runs and the warm-up.

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// negKey is one operational key both targets offer alike: its value as tgtadm and
// the login text spell it, and the field of atgt's Negotiation config that sets it.
type negKey struct {
	Name, Value string
	AtgtField   string // "" for a key only tgt has
	AtgtValue   any
}

// benchNegotiation are atgt's defaults (actors/target/config.go), given to atgtd
// explicitly and to tgt with `tgtadm --op update --mode target`, so that a write of
// 16 KiB and more costs both targets the same R2Ts and PDUs. tgt's defaults differ
// (InitialR2T=Yes, MaxRecvDataSegmentLength 8192, FirstBurstLength 65536,
// MaxBurstLength 262144, MaxOutstandingR2T 1). The client still has its say: the
// values in force are what each login answered (results.md lists them).
var benchNegotiation = []negKey{
	{"InitialR2T", "No", "initialR2t", false},
	{"ImmediateData", "Yes", "immediateData", true},
	{"MaxRecvDataSegmentLength", "262144", "maxRecvDataSegmentLength", 262144},
	{"MaxBurstLength", "1048576", "maxBurstLength", 1048576},
	{"FirstBurstLength", "262144", "firstBurstLength", 262144},
	{"MaxOutstandingR2T", "16", "maxOutstandingR2t", 16},
	// tgt's own key (default 8192). tgt 1.0.85 sends Data-In PDUs of the
	// initiator's MaxRecvDataSegmentLength whatever it says (128 KiB READs went out
	// as one 131072-byte PDU with 8192 and with 262144, strace of tgtd), as atgt
	// does; set anyway, so that no tgt version caps its Data-In below atgt's.
	{"MaxXmitDataSegmentLength", "262144", "", nil},
}

// tgtOptions is how startTgtLUN sets tgtd up beyond its defaults.
type tgtOptions struct {
	// Match gives tgt's target the keys of benchNegotiation.
	Match bool
	// Threads is tgtd's -t (--nr_iothreads), bs_rdwr's IO threads; 0 leaves tgt's
	// default (16).
	Threads int
}

// tgtDefaultThreads is tgt's bs_rdwr thread count when tgtd is given no -t
// (nr_iothreads in tgt's tgtd.c).
const tgtDefaultThreads = 16

// atgtDefaultWorkers is atgt's IO workers per LUN when the config sets none
// (actors/target DefaultWorkers).
const atgtDefaultWorkers = 4

// tgtParamUpdates are the tgtadm arguments that give target tid the keys of
// benchNegotiation.
func tgtParamUpdates(tid int) [][]string {
	var out [][]string
	for _, k := range benchNegotiation {
		out = append(out, []string{"--op", "update", "--mode", "target", "--tid", strconv.Itoa(tid),
			"--name", k.Name, "--value", k.Value})
	}
	return out
}

// atgtNegotiation is the "negotiation" field of atgtd's config with the keys of
// benchNegotiation.
func atgtNegotiation() map[string]any {
	n := map[string]any{}
	for _, k := range benchNegotiation {
		if k.AtgtField != "" {
			n[k.AtgtField] = k.AtgtValue
		}
	}
	return n
}

// benchInitiator are the login options of every Go-initiator run (runGoCase).
func benchInitiator() initiator.Options {
	return initiator.Options{
		InitiatorName: "iqn.2026-11.dev.atgt:atgtbench",
		// tgt refuses an all-zero ISID (its session id would be 0): use a random-type
		// ISID (RFC 7143 11.12.5) as real initiators do.
		ISID: [6]byte{0x80, 0xa7, 0x6b, 0x00, 0x00, 0x01},
	}
}

// negotiated logs in to url as the Go-initiator cases do and returns the
// operational values in force on that session.
func negotiated(url string) (initiator.Params, error) {
	u, err := parseISCSIURL(url)
	if err != nil {
		return initiator.Params{}, err
	}
	o := benchInitiator()
	o.TargetName, o.Timeout = u.Target, 10*time.Second
	s, err := initiator.Dial(u.Addr, o)
	if err != nil {
		return initiator.Params{}, fmt.Errorf("login to %s: %w", url, err)
	}
	p := s.Params
	s.Logout() //nolint:errcheck // only the parameters were wanted
	s.Close()
	return p, nil
}

// paramsLine is the values a login ended with, from the initiator's side.
func paramsLine(p initiator.Params) string {
	yn := func(b bool) string {
		if b {
			return "Yes"
		}
		return "No"
	}
	return fmt.Sprintf("InitialR2T=%s ImmediateData=%s MaxRecvDataSegmentLength(target's)=%d FirstBurstLength=%d "+
		"MaxBurstLength=%d MaxOutstandingR2T=%d MaxRecvDataSegmentLength(initiator's)=%d",
		yn(p.InitialR2T), yn(p.ImmediateData), p.MaxXmitDataSegmentLength, p.FirstBurstLength,
		p.MaxBurstLength, p.MaxOutstandingR2T, p.MaxRecvDataSegmentLength)
}

// sameParams reports whether two logins ended with the same values of the keys
// that shape a transfer.
func sameParams(a, b initiator.Params) bool {
	return a.InitialR2T == b.InitialR2T && a.ImmediateData == b.ImmediateData &&
		a.MaxXmitDataSegmentLength == b.MaxXmitDataSegmentLength && a.FirstBurstLength == b.FirstBurstLength &&
		a.MaxBurstLength == b.MaxBurstLength && a.MaxOutstandingR2T == b.MaxOutstandingR2T &&
		a.MaxRecvDataSegmentLength == b.MaxRecvDataSegmentLength
}

// threadCount is the number of threads of process pid (0 if unknown).
func threadCount(pid int) int {
	if pid <= 0 {
		return 0
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}

// atgtFirst reports whether atgt runs first in pair k (0 the warm-up, if any) of
// case i: the order alternates from pair to pair (ABBA...) and the first pair's
// order alternates from case to case, so over a run each target goes first as often
// as the other (within one if cases x pairs is odd).
func atgtFirst(i, k int) bool { return (i+k)%2 == 0 }

// fairness is what results.md says about how the targets were compared.
type fairness struct {
	Matched             bool   // tgt was given benchNegotiation
	AtgtParams          string // the values a Go-initiator login to each ended with
	TgtParams           string
	ParamsSame          bool
	ParamsErr           string
	AtgtWorkers         int // IO workers of atgt's LUN
	TgtThreads          int // bs_rdwr threads asked of tgtd
	TgtProcThreads      int // threads tgtd's process had once its LUN was open (0: unknown)
	Warmup              bool
	AtgtFirst, TgtFirst int // timed pairs each target went first in
	External            bool
}

// markdown is the fairness paragraph of results.md.
func (f fairness) markdown() string {
	var b strings.Builder
	b.WriteString("Compared: ")
	if f.External {
		b.WriteString("targets started elsewhere (-atgt-url/-tgt-url): what they serve and how they are set up is " +
			"not known to atgtbench. ")
	} else if f.Matched {
		keys := make([]string, 0, len(benchNegotiation))
		for _, k := range benchNegotiation {
			keys = append(keys, k.Name+"="+k.Value)
		}
		fmt.Fprintf(&b, "both targets offer %s (atgt's defaults; tgt set with `tgtadm --op update --mode target`, "+
			"MaxXmitDataSegmentLength being tgt's own key). ", strings.Join(keys, " "))
	} else {
		b.WriteString("each target offers its own defaults (-tgt-params default): tgt InitialR2T=Yes, " +
			"MaxRecvDataSegmentLength 8192, FirstBurstLength 65536, MaxBurstLength 262144, MaxOutstandingR2T 1; " +
			"atgt InitialR2T=No, 262144, 262144, 1048576, 16. ")
	}
	if f.ParamsErr != "" {
		fmt.Fprintf(&b, "The values in force could not be read (%s). ", f.ParamsErr)
	} else {
		same := "the same"
		if !f.ParamsSame {
			same = "**different**"
		}
		fmt.Fprintf(&b, "In force after the Go initiator's login (%s): atgt %s; tgt %s. ", same, f.AtgtParams, f.TgtParams)
	}
	if !f.External {
		fmt.Fprintf(&b, "IO threads: atgt %d IO workers on its LUN (-atgt-workers); tgt %d backing-store IO threads "+
			"(bs_rdwr's; -tgt-threads, tgtd -t", f.AtgtWorkers, f.TgtThreads)
		if f.TgtProcThreads > 0 {
			fmt.Fprintf(&b, "; tgtd had %d threads in all with the LUN open", f.TgtProcThreads)
		}
		b.WriteString("). ")
	}
	fmt.Fprintf(&b, "Order: the target that runs first alternates from repeat to repeat and from case to case; "+
		"atgt went first in %d timed pairs, tgt in %d. ", f.AtgtFirst, f.TgtFirst)
	if f.Warmup {
		b.WriteString("Each case first ran once on each target untimed (a warm-up, discarded). ")
	} else {
		b.WriteString("No warm-up run (-warmup=false). ")
	}
	return b.String()
}

// describeFairness reads what the run compares: the values a Go-initiator login to
// each target ends with, and the IO threads of each. The order counts are filled in
// as the cases run.
func describeFairness(c *config, atgt, tgt *target) fairness {
	f := fairness{Matched: c.tgtParams == "match", Warmup: c.warmup,
		External: c.atgtURL != "" || c.tgtURL != "", AtgtWorkers: int(c.atgtWorkers), TgtThreads: c.tgtThreads}
	if f.AtgtWorkers == 0 {
		f.AtgtWorkers = atgtDefaultWorkers
	}
	if f.TgtThreads == 0 {
		f.TgtThreads = tgtDefaultThreads
	}
	if tgt.cmd != nil {
		f.TgtProcThreads = threadCount(tgt.PID)
	}
	a, errA := negotiated(atgt.URL)
	t, errT := negotiated(tgt.URL)
	switch {
	case errA != nil:
		f.ParamsErr = "atgt: " + errA.Error()
	case errT != nil:
		f.ParamsErr = "tgt: " + errT.Error()
	default:
		f.AtgtParams, f.TgtParams, f.ParamsSame = paramsLine(a), paramsLine(t), sameParams(a, t)
	}
	if f.ParamsErr != "" {
		logf("negotiated parameters: %s", f.ParamsErr)
	} else {
		logf("negotiated with atgt: %s", f.AtgtParams)
		logf("negotiated with tgt:  %s", f.TgtParams)
		if !f.ParamsSame {
			logf("the two targets negotiated different parameters (-tgt-params %s)", c.tgtParams)
		}
	}
	logf("IO threads: atgt %d workers, tgt %d bs_rdwr threads (tgtd process: %d threads)", f.AtgtWorkers, f.TgtThreads, f.TgtProcThreads)
	return f
}

// accountingNotes say, per case and target, how many commands iscsi-perf saw
// answered BUSY and how many bytes the Go initiator asked for and did not get; both
// are left out of the figures. One line says when there were none.
func accountingNotes(rows []row) []string {
	var notes []string
	sum := func(ss []sample) (busy int, short int64) {
		for _, s := range ss {
			busy += s.Busy
			short += s.Short
		}
		return busy, short
	}
	for _, r := range rows {
		for _, side := range []struct {
			name string
			ss   []sample
		}{{"atgt", r.Atgt}, {"tgt", r.Tgt}} {
			if b, s := sum(side.ss); b > 0 || s > 0 {
				notes = append(notes, fmt.Sprintf("%s on %s: %d commands answered BUSY (re-issued by iscsi-perf), "+
					"%d bytes asked for and not moved; left out of the figures.", r.Case, side.name, b, s))
			}
		}
	}
	if len(notes) == 0 {
		notes = append(notes, "No command was answered BUSY (iscsi-perf) and every Go-initiator command moved all its data.")
	}
	return notes
}

// geomeanPaired is the geometric mean of the paired ratios of the target cases
// that have one, and how many they are.
func geomeanPaired(ss []summary) (float64, int) {
	sum, n := 0.0, 0
	for _, s := range ss {
		if s.Ref || math.IsNaN(s.PairedRatio) || s.PairedRatio <= 0 {
			continue
		}
		sum += math.Log(s.PairedRatio)
		n++
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return math.Exp(sum / float64(n)), n
}
