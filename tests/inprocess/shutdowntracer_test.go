package inprocess

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
)

// TestShutdownClosesTracer: Shutdown (the clean stop) closes the tracer, so a
// Service started with TraceSinks leaves no sink goroutine behind. (Counted by the
// sink goroutine's function, not the process's goroutines, which other tests of
// the package may still be ending.)
func TestShutdownClosesTracer(t *testing.T) {
	drains := func() (int, string) {
		buf := make([]byte, 1<<22)
		n := runtime.Stack(buf, true)
		return strings.Count(string(buf[:n]), "trace.(*Tracer).drain"), string(buf[:n])
	}
	before, _ := drains()
	for i := 0; i < 5; i++ {
		svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{TraceSinks: []trace.Sink{&countSink{}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Shutdown(0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		after, stacks := drains()
		if after <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sink goroutines (trace.(*Tracer).drain) before 5 start/Shutdown cycles, %d after\n%s", before, after, stacks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
