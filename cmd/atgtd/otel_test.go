package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func TestStartOTLPChoosesAndChecksTheEndpoint(t *testing.T) {
	log := hclog.NewNullLogger()
	if sinks, stop, code := startOTLP(&pb.Config{}, "", "", log); code != 0 || sinks != nil {
		t.Fatalf("without an endpoint: %d sinks, exit %d", len(sinks), code)
	} else {
		stop()
	}
	if _, _, code := startOTLP(&pb.Config{}, "127.0.0.1:4318", "", log); code != 2 {
		t.Errorf("a bad -otlp exits %d, want 2", code)
	}
	if _, _, code := startOTLP(&pb.Config{OtlpEndpoint: "ftp://x"}, "", "", log); code != 1 {
		t.Errorf("a bad otlp_endpoint exits %d, want 1", code)
	}

	// The flag wins over the config; the config's service name is used; stop sends
	// what is queued.
	var mu sync.Mutex
	var services []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(raw, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					services = append(services, kv.Value.GetStringValue())
				}
			}
		}
		mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	cfg := &pb.Config{OtlpEndpoint: "http://127.0.0.1:1", OtlpServiceName: "atgtd-vm1"}
	sinks, stop, code := startOTLP(cfg, srv.URL, "", log)
	if code != 0 || len(sinks) != 1 {
		t.Fatalf("startOTLP: exit %d, %d sinks", code, len(sinks))
	}
	sinks[0].Finished(&trace.Timeline{ID: trace.TaskID{Opcode: 0x28}, Events: []trace.Event{{Hop: 1, Actor: "conn", TNs: 1}}})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(services) != 1 || services[0] != "atgtd-vm1" {
		t.Errorf("the receiver at -otlp got spans of services %v, want [atgtd-vm1]", services)
	}
}
