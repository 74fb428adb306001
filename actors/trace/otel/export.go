package otel

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name of atgt's spans unless Config names another.
const DefaultServiceName = "atgtd"

// tracesPath is where an OTLP/HTTP receiver takes spans (the OTLP specification's
// default, which OTEL_EXPORTER_OTLP_ENDPOINT also appends).
const tracesPath = "/v1/traces"

// Config says where New sends spans.
type Config struct {
	// Endpoint is the OTLP/HTTP receiver's URL, e.g. "http://127.0.0.1:4318" (an
	// OpenTelemetry Collector, Jaeger or Tempo). Without a path, /v1/traces is
	// appended as for OTEL_EXPORTER_OTLP_ENDPOINT; a path is used as it is. http
	// sends in the clear, https with TLS and the system's roots.
	Endpoint string
	// ServiceName is the service.name resource attribute (default "atgtd"), which
	// tells several targets apart in one backend.
	ServiceName string
	// BatchTimeout is the longest a span waits to be sent with others (0: the SDK's
	// default, 5 s); tests shorten it.
	BatchTimeout time.Duration
	// SampleRatio is the fraction of tasks exported, chosen by trace ID (0 or 1:
	// every task), because export costs the finishing goroutine about 11 µs a task
	// and the receiver a span per hop. A task the flight recorder logs is always
	// exported, and a task under an embedder's traceparent follows its sampled flag.
	SampleRatio float64
}

// Sampler is the SDK sampler of a sink's provider: ratio of the tasks by trace ID
// (all for 0 or 1), the parent's decision for a task that has one, and every task
// marked atgt.bad, so that sampling never hides the tasks worth looking at.
func Sampler(ratio float64) sdktrace.Sampler {
	if ratio <= 0 || ratio >= 1 {
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	return keepBad{sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))}
}

// keepBad samples every span marked atgt.bad and leaves the others to its sampler.
type keepBad struct{ sdktrace.Sampler }

func (k keepBad) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	for _, kv := range p.Attributes {
		if kv.Key == AttrBad && kv.Value.AsBool() {
			return sdktrace.SamplingResult{
				Decision:   sdktrace.RecordAndSample,
				Tracestate: oteltrace.SpanContextFromContext(p.ParentContext).TraceState(),
			}
		}
	}
	return k.Sampler.ShouldSample(p)
}

func (k keepBad) Description() string { return "KeepBad{" + k.Sampler.Description() + "}" }

// ParseEndpoint checks an OTLP/HTTP URL and splits it into the exporter's host,
// path and whether it is plain http; its error names what is wrong.
func ParseEndpoint(endpoint string) (host, path string, insecure bool, err error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", false, fmt.Errorf("%q is not an http:// or https:// URL: %v", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", false, fmt.Errorf("%q is not an http:// or https:// URL", endpoint)
	}
	if u.Host == "" {
		return "", "", false, fmt.Errorf("%q has no host", endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", false, fmt.Errorf("%q has a query, fragment or user: an OTLP endpoint takes none", endpoint)
	}
	path = u.Path
	if path == "" || path == "/" {
		path = tracesPath
	}
	return u.Host, path, u.Scheme == "http", nil
}

// New makes a sink that exports over OTLP/HTTP (protobuf) through the SDK's batch
// span processor: spans are sent in batches from a goroutine of the SDK's, never
// from the task's actor, and dropped when its queue is full. The sink owns the
// provider: call Shutdown at stop to send what is queued. Nothing is sent or dialled
// until the first batch, so an absent collector costs a logged error per batch,
// never the target's start.
func New(ctx context.Context, cfg Config, opts ...Option) (*Sink, error) {
	host, path, insecure, err := ParseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otlp endpoint: %w", err)
	}
	expOpts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(host), otlptracehttp.WithURLPath(path)}
	if insecure {
		expOpts = append(expOpts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, expOpts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	// The SDK's default resource (telemetry.sdk.*) with our service.name over it;
	// schemaless, so that it merges with any semantic-conventions version.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		return nil, fmt.Errorf("otlp resource: %w", err)
	}
	var batchOpts []sdktrace.BatchSpanProcessorOption
	if cfg.BatchTimeout > 0 {
		batchOpts = append(batchOpts, sdktrace.WithBatchTimeout(cfg.BatchTimeout))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, batchOpts...), sdktrace.WithResource(res),
		sdktrace.WithSampler(Sampler(cfg.SampleRatio)))
	s := NewSink(tp, opts...)
	s.owned = tp
	return s, nil
}
