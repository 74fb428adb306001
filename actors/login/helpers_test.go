package login

import (
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

const (
	testInitiator = "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test"
	testTarget    = "iqn.2024-01.org.atgt:disk1"
)

// testConfig knows testTarget (tag 1, alias "disk1") and a target that refuses everyone.
func testConfig() Config {
	return Config{
		Lookup: func(name string) (TargetInfo, bool) {
			switch name {
			case testTarget:
				return TargetInfo{Name: testTarget, Alias: "disk1", PortalGroupTag: 1}, true
			case "iqn.2024-01.org.atgt:closed":
				return TargetInfo{Name: name, PortalGroupTag: 2, Allowed: func(string) bool { return false }}, true
			}
			return TargetInfo{}, false
		},
		Limits: DefaultLimits(),
	}
}

// text builds a data segment from "key=value" strings.
func text(pairs ...string) []byte {
	var kvs []iscsi.KV
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		kvs = append(kvs, iscsi.KV{Key: k, Value: v})
	}
	return iscsi.AppendText(nil, kvs...)
}

// opReq is a request in the operational stage asking to go to full feature phase.
func opReq(data []byte) *Request {
	return &Request{Transit: true, CSG: StageOperational, NSG: StageFullFeature, ISID: [6]byte{0x80, 1, 2, 3, 4, 5}, ITT: 7, Data: data}
}

// secReq is a request in the security stage asking to go to operational negotiation.
func secReq(data []byte) *Request {
	r := opReq(data)
	r.CSG, r.NSG = StageSecurity, StageOperational
	return r
}

func names(extra ...string) []byte {
	return text(append([]string{"InitiatorName=" + testInitiator, "TargetName=" + testTarget}, extra...)...)
}

// replyMap parses a response's keys, failing the test on a malformed or repeated key.
func replyMap(t testing.TB, resp *Response) map[string]string {
	t.Helper()
	kvs, err := iscsi.ParseText(resp.Data)
	if err != nil {
		t.Fatalf("response text: %v", err)
	}
	m := map[string]string{}
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			t.Fatalf("response repeats key %s: %q", kv.Key, resp.Data)
		}
		m[kv.Key] = kv.Value
	}
	return m
}
