package main

import (
	"encoding/json"
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
