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
// Service started with TraceSinks leaves no sink goroutine behind.
func TestShutdownClosesTracer(t *testing.T) {
	runtime.GC()
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{TraceSinks: []trace.Sink{&countSink{}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Shutdown(0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	after := runtime.NumGoroutine()
	if after > before+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		drains := strings.Count(string(buf[:n]), "trace.(*Tracer).drain")
		t.Errorf("goroutines %d before 5 start/Shutdown cycles, %d after; %d in trace.(*Tracer).drain\n%s", before, after, drains, buf[:n])
	}
}
