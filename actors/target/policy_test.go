package target

import (
	"strings"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestIOPolicyDefaultsAndConflicts checks what ApplyDefaults makes of io_policy and
// the workers and direct_io it implies, and that Validate names the field at fault.
func TestIOPolicyDefaultsAndConflicts(t *testing.T) {
	tests := []struct {
		name    string
		lun     *pb.Lun
		policy  string
		workers uint32
		direct  bool
		bad     string // the error's field and message, "" when valid
	}{
		{"unset", &pb.Lun{}, "threaded", DefaultWorkers, false, ""},
		{"single", &pb.Lun{IoPolicy: "single"}, "single", 1, false, ""},
		{"single-sync", &pb.Lun{IoPolicy: "single-sync", Workers: 1}, "single-sync", 1, false, ""},
		{"direct", &pb.Lun{IoPolicy: "direct", Workers: 8}, "direct", 8, true, ""},
		{"directIo alone", &pb.Lun{DirectIo: true}, "direct", DefaultWorkers, true, ""},
		{"unknown", &pb.Lun{IoPolicy: "foo"}, "foo", DefaultWorkers, false,
			`targets[0].luns[0].ioPolicy: "foo" is not threaded, single, single-sync or direct`},
		{"single with workers", &pb.Lun{IoPolicy: "single", Workers: 4}, "single", 4, false,
			`targets[0].luns[0].workers: 4 with ioPolicy "single"`},
		{"threaded with directIo", &pb.Lun{IoPolicy: "threaded", DirectIo: true}, "threaded", DefaultWorkers, true,
			`targets[0].luns[0].directIo: true with ioPolicy "threaded"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.lun
			l.Path, l.SizeBytes = "lun0.img", 1<<20
			cfg := ApplyDefaults(&pb.Config{Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{l}}}})
			got := cfg.Targets[0].Luns[0]
			if got.IoPolicy != tc.policy || got.Workers != tc.workers || got.DirectIo != tc.direct {
				t.Fatalf("defaults: ioPolicy %q workers %d directIo %v, want %q %d %v",
					got.IoPolicy, got.Workers, got.DirectIo, tc.policy, tc.workers, tc.direct)
			}
			err := Validate(cfg)
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("error %v, want one containing %q", err, tc.bad)
			}
		})
	}
}
