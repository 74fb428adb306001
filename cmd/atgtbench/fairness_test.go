package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	atgttarget "github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestBenchNegotiationIsAtgtDefault: the keys atgtbench gives both targets are
// atgt's defaults, so that spelling them out in atgtd's config changes nothing for
// atgt, and the worker count results.md states is atgt's default.
func TestBenchNegotiationIsAtgtDefault(t *testing.T) {
	js, err := json.Marshal(atgtNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	var got pb.Negotiation
	if err := protojson.Unmarshal(js, &got); err != nil {
		t.Fatalf("atgtNegotiation is not a Negotiation config: %v (%s)", err, js)
	}
	want := atgttarget.ApplyDefaults(&pb.Config{}).Negotiation
	if got.MaxRecvDataSegmentLength != want.MaxRecvDataSegmentLength || got.MaxBurstLength != want.MaxBurstLength ||
		got.FirstBurstLength != want.FirstBurstLength || got.MaxOutstandingR2T != want.MaxOutstandingR2T ||
		got.GetImmediateData() != want.GetImmediateData() || got.GetInitialR2T() != want.GetInitialR2T() {
		t.Fatalf("bench negotiation %v, atgt's defaults %v", &got, want)
	}
	if atgtDefaultWorkers != atgttarget.DefaultWorkers {
		t.Fatalf("atgtDefaultWorkers %d, atgt's default %d", atgtDefaultWorkers, atgttarget.DefaultWorkers)
	}
	// tgt gets every key, with tgtadm's update syntax.
	ups := tgtParamUpdates(1)
	if len(ups) != len(benchNegotiation) {
		t.Fatalf("%d tgtadm updates for %d keys", len(ups), len(benchNegotiation))
	}
	for i, a := range ups {
		if got := strings.Join(a, " "); got != "--op update --mode target --tid 1 --name "+benchNegotiation[i].Name+
			" --value "+benchNegotiation[i].Value {
			t.Errorf("tgtadm %s", got)
		}
	}
}

// TestAtgtFirstBalanced: over the timed pairs of a run, each target goes first as
// often as the other (within one when cases x repeats is odd), with or without a
// warm-up pair, and with one repeat (-quick) tgt goes first too.
func TestAtgtFirstBalanced(t *testing.T) {
	for cases := 1; cases <= 6; cases++ {
		for repeats := 1; repeats <= 5; repeats++ {
			for warm := 0; warm <= 1; warm++ {
				a, b := 0, 0
				for i := 0; i < cases; i++ {
					for k := warm; k < warm+repeats; k++ {
						if atgtFirst(i, k) {
							a++
						} else {
							b++
						}
					}
				}
				if d := a - b; d > 1 || d < -1 {
					t.Errorf("cases %d repeats %d warm-up %d: atgt first %d times, tgt %d", cases, repeats, warm, a, b)
				}
			}
		}
	}
}

// TestFairnessMarkdown: results.md names the keys both targets offered, the values
// in force, both thread counts and the order counts, and flags different values.
func TestFairnessMarkdown(t *testing.T) {
	f := fairness{Matched: true, AtgtParams: "InitialR2T=No", TgtParams: "InitialR2T=Yes", ParamsSame: false,
		AtgtWorkers: 4, TgtThreads: 16, TgtProcThreads: 18, Warmup: true, AtgtFirst: 3, TgtFirst: 3}
	md := f.markdown()
	for _, want := range []string{"InitialR2T=No ImmediateData=Yes MaxRecvDataSegmentLength=262144", "**different**",
		"atgt InitialR2T=No; tgt InitialR2T=Yes", "atgt 4 IO workers", "tgt 16 backing-store IO threads", "atgt went first in 3 timed pairs, tgt in 3",
		"warm-up"} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md paragraph lacks %q:\n%s", want, md)
		}
	}
	f.External = true
	if md := f.markdown(); !strings.Contains(md, "not known") || strings.Contains(md, "IO threads") {
		t.Errorf("external targets:\n%s", md)
	}
}

// TestTargetsNegotiateAlike starts atgtd and tgtd as the normal mode does: with
// tgtOptions.Match a Go-initiator login ends with the same values on both (tgt
// without it with InitialR2T=Yes and 8 KiB segments, the difference the option
// removes), and tgtd runs the IO threads asked for.
func TestTargetsNegotiateAlike(t *testing.T) {
	needTools(t, "tgtd", "tgtadm")
	dir := t.TempDir()
	file := filepath.Join(dir, "lun.img")
	if err := makeBackingFile(file, 16<<20); err != nil {
		t.Fatal(err)
	}
	bin, err := buildAtgtd(context.Background(), dir, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	c := &config{tgtParams: "match", tgtThreads: 3}
	atgt, err := startAtgt(context.Background(), dir, file, 16<<20, nil, c.atgtCfgFields(), bin, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(atgt.stop)
	a, err := negotiated(atgt.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts tgtOptions
		same bool
	}{{c.tgtOpts(), true}, {tgtOptions{}, false}} {
		tgt, err := startTgtLUN(context.Background(), dir, []string{"-b", file}, tc.opts, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		p, err := negotiated(tgt.URL)
		threads := threadCount(tgt.PID)
		tgt.stop()
		if err != nil {
			t.Fatal(err)
		}
		if sameParams(a, p) != tc.same {
			t.Errorf("%+v: atgt %s; tgt %s; want same %v", tc.opts, paramsLine(a), paramsLine(p), tc.same)
		}
		if tc.same && (p.InitialR2T || p.MaxXmitDataSegmentLength != 262144) {
			t.Errorf("matched tgt: %s", paramsLine(p))
		}
		if !tc.same && (!p.InitialR2T || p.MaxXmitDataSegmentLength != 8192) {
			t.Errorf("tgt's defaults are no longer InitialR2T=Yes and 8192 (README and -tgt-params say so): %s", paramsLine(p))
		}
		// tgtd's main thread and its LUN's bs_rdwr threads.
		want := tgtDefaultThreads + 1
		if tc.opts.Threads > 0 {
			want = tc.opts.Threads + 1
		}
		if threads != want {
			t.Errorf("%+v: tgtd had %d threads, want %d", tc.opts, threads, want)
		}
	}
}
