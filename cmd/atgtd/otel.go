package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	atgtotel "github.com/atgt/atgt/actors/trace/otel"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// otlpFlushTimeout bounds the last export at stop: a collector that is down must not
// hold up the daemon's exit.
const otlpFlushTimeout = 5 * time.Second

// otlpErrorEvery spaces the warnings of a failing export (one per batch otherwise).
const otlpErrorEvery = 30 * time.Second

// startOTLP makes the OpenTelemetry sink when -otlp or the config's otlp_endpoint
// names a receiver (the flag wins). It returns the sinks for target.Options, a stop
// that sends the spans still queued and stops the exporter (called after the target
// stopped), and a non-zero exit status after printing why when it cannot start:
// 2 for a bad -otlp, 1 for a bad config field, as for the other flags and fields.
func startOTLP(cfg *pb.Config, flagURL, traceFlag string, log hclog.Logger) ([]trace.Sink, func(), int) {
	endpoint := flagURL
	if endpoint == "" {
		endpoint = cfg.GetOtlpEndpoint()
	}
	if endpoint == "" {
		return nil, func() {}, 0
	}
	if _, _, _, err := atgtotel.ParseEndpoint(endpoint); err != nil {
		if flagURL != "" {
			fmt.Fprintf(stderr, "atgtd: -otlp: %v\n", err)
			return nil, nil, 2
		}
		fmt.Fprintf(stderr, "atgtd: config: otlpEndpoint: %v\n", err)
		return nil, nil, 1
	}
	sink, err := atgtotel.New(context.Background(), atgtotel.Config{
		Endpoint:    endpoint,
		ServiceName: target.ApplyDefaults(cfg).GetOtlpServiceName(),
		SampleRatio: cfg.GetOtlpSampleRatio(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "atgtd: -otlp: %v\n", err)
		return nil, nil, 2
	}
	// The sink's provider and W3C propagation become the process's, so that what
	// else atgtd traces (admin calls carrying a traceparent) goes to the same place.
	otelapi.SetTracerProvider(sink.TracerProvider())
	otelapi.SetTextMapPropagator(propagation.TraceContext{})
	var lastWarn atomic.Int64
	otelapi.SetErrorHandler(otelapi.ErrorHandlerFunc(func(err error) {
		now := time.Now().UnixNano()
		if last := lastWarn.Load(); now-last >= int64(otlpErrorEvery) && lastWarn.CompareAndSwap(last, now) {
			log.Warn("otlp export failed (spans dropped; further errors for 30s not logged)", "endpoint", endpoint, "error", err)
		}
	}))
	fmt.Fprintf(stdout, "otlp %s\n", endpoint)
	level := traceFlag
	if level == "" {
		level = cfg.GetTraceLevel()
	}
	if level == "" || level == "off" {
		fmt.Fprintln(stdout, "otlp: tracing is off: only the tasks the flight recorder logs are exported (-trace light: every task)")
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), otlpFlushTimeout)
		defer cancel()
		if err := sink.Shutdown(ctx); err != nil {
			log.Warn("otlp: spans not sent at stop", "endpoint", endpoint, "error", err)
		}
	}
	return []trace.Sink{sink}, stop, 0
}
