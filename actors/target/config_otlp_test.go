package target

import (
	"math"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

func TestOTLPConfigDefaultsAndValidation(t *testing.T) {
	cfg := ApplyDefaults(DefaultConfig())
	if cfg.OtlpEndpoint != "" || cfg.OtlpServiceName != DefaultOTLPServiceName {
		t.Fatalf("otlp defaults: endpoint %q service %q, want none and %q", cfg.OtlpEndpoint, cfg.OtlpServiceName, DefaultOTLPServiceName)
	}
	for _, e := range []string{"http://127.0.0.1:4318", "https://otel.example.com/v1/traces", "http://[::1]:4318/"} {
		c := ApplyDefaults(DefaultConfig())
		c.OtlpEndpoint = e
		c.OtlpSampleRatio = 0.25
		if err := Validate(c); err != nil {
			t.Errorf("otlpEndpoint %q refused: %v", e, err)
		}
	}
	refusedNaming(t, DefaultConfig, []badField{
		{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "127.0.0.1:4318" }},
		{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "grpc://127.0.0.1:4317" }},
		{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://" }},
		{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://h:4318/v1/traces?token=x" }},
		{"otlpEndpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://h:4318/%zz" }},
		{"otlpServiceName", func(c *pb.Config) { c.OtlpServiceName = "atgt\nd" }},
		{"otlpSampleRatio", func(c *pb.Config) { c.OtlpSampleRatio = 1.5 }},
		{"otlpSampleRatio", func(c *pb.Config) { c.OtlpSampleRatio = -0.1 }},
		{"otlpSampleRatio", func(c *pb.Config) { c.OtlpSampleRatio = math.NaN() }},
	})
}
