package otel

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/messages/scsi"
)

// receiver is a minimal OTLP/HTTP trace receiver: it decodes each protobuf
// ExportTraceServiceRequest posted to /v1/traces and keeps it.
type receiver struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	errs     []string
	url      string
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", r.serve)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends at Close
	t.Cleanup(func() { _ = srv.Close() })
	r.url = "http://" + ln.Addr().String()
	return r
}

func (r *receiver) fail(w http.ResponseWriter, msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.fail(w, "want POST application/x-protobuf, got "+req.Method+" "+req.Header.Get("Content-Type"))
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail(w, err.Error())
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		r.fail(w, err.Error())
		return
	}
	msg := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(raw, msg); err != nil {
		r.fail(w, "decoding ExportTraceServiceRequest: "+err.Error())
		return
	}
	r.mu.Lock()
	r.requests = append(r.requests, msg)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// received is one span as the receiver got it, with its resource and scope.
type received struct {
	service, scope string
	span           *tracepb.Span
}

func (r *receiver) spans(t *testing.T) []received {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		t.Fatalf("the receiver refused requests: %v", r.errs)
	}
	var out []received
	for _, req := range r.requests {
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					out = append(out, received{service: service, scope: ss.GetScope().GetName(), span: sp})
				}
			}
		}
	}
	return out
}

// pbAttrs turns OTLP attributes into a map.
func pbAttrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestOTLPExportToReceiver sends three tasks through the real OTLP/HTTP exporter
// and batch processor to a receiver in the test: a READ, a WRITE that failed, and
// a READ submitted under an embedder's traceparent.
func TestOTLPExportToReceiver(t *testing.T) {
	r := startReceiver(t)
	ctx := context.Background()
	s, err := New(ctx, Config{Endpoint: r.url, ServiceName: "atgtd-test", BatchTimeout: 20 * time.Millisecond}, WithClock(func() int64 { return mono0 }))
	if err != nil {
		t.Fatal(err)
	}
	const (
		parentTrace = "0af7651916cd43dd8448eb211c80319c"
		parentSpan  = "b7ad6b7169203331"
	)
	good := readTimeline(1)
	bad := readTimeline(2)
	bad.ID.Opcode = scsi.OpWrite10
	bad.Status, bad.Sense, bad.Bad = scsi.StatusCheckCondition, fixedSense(scsi.SenseHardwareError, 0x44, 0x00), true
	embedded := readTimeline(3)
	embedded.TraceParent = "00-" + parentTrace + "-" + parentSpan + "-01"
	for _, tl := range []*trace.Timeline{good, bad, embedded} {
		s.Finished(tl)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil { // flushes the batch, then stops the exporter
		t.Fatalf("Shutdown: %v", err)
	}

	got := r.spans(t)
	if len(got) != 3*6 {
		t.Fatalf("the receiver got %d spans, want 3 tasks of 1+5", len(got))
	}
	byID := map[string]*tracepb.Span{}
	for _, g := range got {
		if g.service != "atgtd-test" || g.scope != ScopeName {
			t.Errorf("span %q from service %q scope %q", g.span.Name, g.service, g.scope)
		}
		byID[hex.EncodeToString(g.span.SpanId)] = g.span
	}
	// The task spans are those whose parent was not exported with them.
	roots := map[int64]*tracepb.Span{} // by ITT
	for _, g := range got {
		if _, local := byID[hex.EncodeToString(g.span.ParentSpanId)]; !local {
			roots[pbAttrs(g.span.Attributes)["iscsi.itt"].GetIntValue()] = g.span
		}
	}
	if len(roots) != 3 {
		t.Fatalf("task spans by ITT: %v, want ITTs 1, 2, 3", roots)
	}
	for itt, tl := range map[int64]*trace.Timeline{1: good, 2: bad, 3: embedded} {
		root := roots[itt]
		if root == nil {
			t.Fatalf("no task span for ITT %d", itt)
		}
		if root.Name != SpanName(tl.ID.Opcode) || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("ITT %d: task span %q kind %v", itt, root.Name, root.Kind)
		}
		a := pbAttrs(root.Attributes)
		if a["iscsi.initiator"].GetStringValue() != tl.ID.Initiator || a["iscsi.isid"].GetStringValue() != "80123456789a" ||
			a["iscsi.tsih"].GetIntValue() != 7 || a["iscsi.cmdsn"].GetIntValue() != int64(tl.ID.CmdSN) ||
			a["scsi.lun"].GetIntValue() != 3 || a["scsi.opcode"].GetIntValue() != int64(tl.ID.Opcode) {
			t.Errorf("ITT %d: task attributes %v", itt, root.Attributes)
		}
		if d := root.EndTimeUnixNano - root.StartTimeUnixNano; d != 9000 {
			t.Errorf("ITT %d: task lasts %d ns, want 9000", itt, d)
		}
		var hops []*tracepb.Span
		for _, g := range got {
			if bytes.Equal(g.span.ParentSpanId, root.SpanId) {
				if !bytes.Equal(g.span.TraceId, root.TraceId) {
					t.Errorf("ITT %d: hop %q in another trace", itt, g.span.Name)
				}
				hops = append(hops, g.span)
			}
		}
		if len(hops) != len(tl.Events) {
			t.Fatalf("ITT %d: %d hops, want %d", itt, len(hops), len(tl.Events))
		}
		sort.Slice(hops, func(i, j int) bool { return hops[i].StartTimeUnixNano < hops[j].StartTimeUnixNano })
		for i, h := range hops {
			ev := tl.Events[i]
			if h.Name != fmt.Sprint(ev.Hop) || h.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
				t.Errorf("ITT %d: hop %d is %q kind %v, want %q", itt, i, h.Name, h.Kind, fmt.Sprint(ev.Hop))
			}
			if off := int64(h.StartTimeUnixNano - root.StartTimeUnixNano); off != ev.TNs-tl.Events[0].TNs {
				t.Errorf("ITT %d: hop %d starts %d ns into the task, want %d", itt, i, off, ev.TNs-tl.Events[0].TNs)
			}
			if i+1 < len(hops) && h.EndTimeUnixNano != hops[i+1].StartTimeUnixNano {
				t.Errorf("ITT %d: hop %d ends at %d, the next starts at %d", itt, i, h.EndTimeUnixNano, hops[i+1].StartTimeUnixNano)
			}
			ha := pbAttrs(h.Attributes)
			if ha["atgt.actor"].GetStringValue() != ev.Actor || ha["atgt.actor_id"].GetStringValue() != ev.ActorID ||
				ha["atgt.message"].GetStringValue() != ev.Message || ha["atgt.bytes"].GetIntValue() != ev.Bytes ||
				ha["atgt.result"].GetStringValue() != ev.Result || ha["atgt.detail"].GetStringValue() != ev.Detail {
				t.Errorf("ITT %d: hop %d attributes %v, want %+v", itt, i, h.Attributes, ev)
			}
		}
	}

	if st := roots[2].Status; st.GetCode() != tracepb.Status_STATUS_CODE_ERROR || st.GetMessage() != "CHECK CONDITION, HARDWARE ERROR 44/00" {
		t.Errorf("failed WRITE's status %v", st)
	}
	if a := pbAttrs(roots[2].Attributes); a["scsi.sense_key"].GetIntValue() != 4 || a["scsi.asc"].GetIntValue() != 0x44 {
		t.Errorf("failed WRITE's sense attributes %v", roots[2].Attributes)
	}
	if st := roots[1].Status; st.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		t.Errorf("good READ's status %v", st)
	}
	emb := roots[3]
	if hex.EncodeToString(emb.TraceId) != parentTrace || hex.EncodeToString(emb.ParentSpanId) != parentSpan {
		t.Errorf("embedder's task in trace %x under %x, want %s under %s", emb.TraceId, emb.ParentSpanId, parentTrace, parentSpan)
	}
	if bytes.Equal(roots[1].TraceId, roots[2].TraceId) || hex.EncodeToString(roots[1].TraceId) == parentTrace {
		t.Error("tasks without a traceparent share a trace")
	}
}

// TestOTLPEndpointPathAsGiven checks that an endpoint with a path is posted to as it
// is, and that ForceFlush sends before Shutdown.
func TestOTLPEndpointPathAsGiven(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		mu.Lock()
		paths[req.URL.Path]++
		mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends at Close
	defer srv.Close()
	s, err := New(context.Background(), Config{Endpoint: "http://" + ln.Addr().String() + "/collector/traces"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background()) //nolint:errcheck // checked below
	s.Finished(readTimeline(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths["/collector/traces"] == 0 {
		t.Errorf("posted to %v, want /collector/traces", paths)
	}
}

func TestNewRefusesBadEndpoint(t *testing.T) {
	if _, err := New(context.Background(), Config{Endpoint: "127.0.0.1:4318"}); err == nil {
		t.Error("New accepted an endpoint without a scheme")
	}
}
