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
			t.Errorf("otlp_endpoint %q refused: %v", e, err)
		}
	}
	refusedNaming(t, DefaultConfig, []badField{
		{"otlp_endpoint", func(c *pb.Config) { c.OtlpEndpoint = "127.0.0.1:4318" }},
		{"otlp_endpoint", func(c *pb.Config) { c.OtlpEndpoint = "grpc://127.0.0.1:4317" }},
		{"otlp_endpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://" }},
		{"otlp_endpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://h:4318/v1/traces?token=x" }},
		{"otlp_endpoint", func(c *pb.Config) { c.OtlpEndpoint = "http://h:4318/%zz" }},
		{"otlp_service_name", func(c *pb.Config) { c.OtlpServiceName = "atgt\nd" }},
		{"otlp_sample_ratio", func(c *pb.Config) { c.OtlpSampleRatio = 1.5 }},
		{"otlp_sample_ratio", func(c *pb.Config) { c.OtlpSampleRatio = -0.1 }},
		{"otlp_sample_ratio", func(c *pb.Config) { c.OtlpSampleRatio = math.NaN() }},
	})
}
