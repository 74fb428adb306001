package login

import (
	"bytes"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// libiscsiKeys is the operational key set libiscsi sends with its default settings.
var libiscsiKeys = []string{
	"InitiatorName=" + testInitiator, "TargetName=" + testTarget, "SessionType=Normal",
	"HeaderDigest=None,CRC32C", "DataDigest=None", "InitialR2T=Yes", "ImmediateData=Yes",
	"MaxBurstLength=262144", "FirstBurstLength=262144", "DefaultTime2Wait=2", "DefaultTime2Retain=0",
	"MaxOutstandingR2T=1", "ErrorRecoveryLevel=0", "IFMarker=No", "OFMarker=No", "MaxConnections=1",
	"MaxRecvDataSegmentLength=262144", "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes",
}

func TestLoginStraightToOperational(t *testing.T) {
	m := NewMachine(testConfig())
	resp, done := m.Step(opReq(text(libiscsiKeys...)))
	if !done || resp.Status() != StatusSuccess || !resp.Transit || resp.NSG != StageFullFeature || resp.CSG != StageOperational {
		t.Fatalf("resp %+v done %v", resp, done)
	}
	if resp.ITT != 7 || resp.ISID != [6]byte{0x80, 1, 2, 3, 4, 5} || resp.VersionMax != 0 || resp.VersionActive != 0 {
		t.Fatalf("header fields %+v", resp)
	}
	r := replyMap(t, resp)
	for k, v := range map[string]string{
		"TargetPortalGroupTag": "1", "TargetAlias": "disk1", "HeaderDigest": "None", "DataDigest": "None",
		"InitialR2T": "Yes", "ImmediateData": "Yes", "MaxBurstLength": "262144", "FirstBurstLength": "262144",
		"MaxRecvDataSegmentLength": "262144", "IFMarker": "Reject", "OFMarker": "Reject", "DefaultTime2Retain": "0",
	} {
		if r[k] != v {
			t.Errorf("%s=%q, want %q", k, r[k], v)
		}
	}
	res := m.Result()
	p := res.Params
	if p.HeaderDigest || p.DataDigest || !p.InitialR2T || !p.ImmediateData || p.MaxBurstLength != 262144 ||
		p.FirstBurstLength != 262144 || p.MaxRecvDataSegmentLength != 262144 || p.MaxXmitDataSegmentLength != 262144 ||
		p.MaxOutstandingR2T != 1 || p.DefaultTime2Retain != 0 {
		t.Fatalf("params %+v", p)
	}
	if res.SessionType != SessionNormal || res.InitiatorName != testInitiator || res.Target.Name != testTarget || res.TSIH != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestLoginSecurityThenOperational(t *testing.T) {
	m := NewMachine(testConfig())
	// libiscsi with CHAP configured: names and AuthMethod first, names again later.
	resp, done := m.Step(secReq(text("InitiatorName="+testInitiator, "TargetName="+testTarget,
		"SessionType=Normal", "AuthMethod=CHAP,None", "InitiatorAlias=host1")))
	if done || resp.Status() != StatusSuccess || !resp.Transit || resp.CSG != StageSecurity || resp.NSG != StageOperational {
		t.Fatalf("first resp %+v", resp)
	}
	if r := replyMap(t, resp); r["AuthMethod"] != "None" || r["TargetPortalGroupTag"] != "1" {
		t.Fatalf("first reply %v", r)
	}
	resp, done = m.Step(opReq(text(libiscsiKeys...)))
	if !done || resp.Status() != StatusSuccess {
		t.Fatalf("second resp %+v", resp)
	}
	r := replyMap(t, resp)
	if _, ok := r["TargetPortalGroupTag"]; ok {
		t.Fatalf("tag repeated: %v", r)
	}
	if r["MaxRecvDataSegmentLength"] != "262144" {
		t.Fatalf("no declaration: %v", r)
	}
	if got := m.Result().InitiatorAlias; got != "host1" {
		t.Fatalf("alias %q", got)
	}
}

func TestLoginSecurityStageRounds(t *testing.T) {
	m := NewMachine(testConfig())
	req := secReq(names("AuthMethod=None"))
	req.Transit = false
	resp, _ := m.Step(req)
	if resp.Status() != StatusSuccess || resp.Transit {
		t.Fatalf("first %+v", resp)
	}
	resp, _ = m.Step(secReq(nil))
	if resp.Status() != StatusSuccess || !resp.Transit || resp.NSG != StageOperational {
		t.Fatalf("second %+v", resp)
	}
	// the operational stage declares MaxRecvDataSegmentLength even when not asked
	req = opReq(nil)
	req.Transit = false
	resp, _ = m.Step(req)
	if r := replyMap(t, resp); r["MaxRecvDataSegmentLength"] != "262144" || resp.Transit {
		t.Fatalf("third %+v %v", resp, r)
	}
	resp, done := m.Step(opReq(nil))
	if !done || len(resp.Data) != 0 {
		t.Fatalf("fourth %+v", resp)
	}
}

func TestLoginSecurityStraightToFullFeature(t *testing.T) {
	m := NewMachine(testConfig())
	req := secReq(names())
	req.NSG = StageFullFeature
	resp, done := m.Step(req)
	if !done || replyMap(t, resp)["MaxRecvDataSegmentLength"] != "262144" {
		t.Fatalf("resp %+v", resp)
	}
	if m.Result().Params.MaxXmitDataSegmentLength != 262144 {
		t.Fatalf("params %+v", m.Result().Params)
	}
}

func TestLoginDiscovery(t *testing.T) {
	m := NewMachine(Config{Limits: DefaultLimits()}) // no Lookup: discovery must not need it
	resp, done := m.Step(opReq(text("InitiatorName="+testInitiator, "SessionType=Discovery", "TargetName=whatever")))
	if !done || resp.Status() != StatusSuccess {
		t.Fatalf("resp %+v", resp)
	}
	if _, ok := replyMap(t, resp)["TargetPortalGroupTag"]; ok {
		t.Fatal("discovery answered a portal group tag")
	}
	res := m.Result()
	if res.SessionType != SessionDiscovery || res.Target.Name != "" {
		t.Fatalf("result %+v", res)
	}
}

func TestLoginContinuation(t *testing.T) {
	m := NewMachine(testConfig())
	data := text(libiscsiKeys...)
	cut := bytes.Index(data, []byte("MaxBurst")) + 4 // split inside a key
	first := opReq(data[:cut])
	first.Transit, first.Continue = false, true
	resp, done := m.Step(first)
	if done || resp.Status() != StatusSuccess || resp.Transit || resp.Continue || len(resp.Data) != 0 {
		t.Fatalf("continuation ack %+v", resp)
	}
	resp, done = m.Step(opReq(data[cut:]))
	if !done || replyMap(t, resp)["MaxBurstLength"] != "262144" {
		t.Fatalf("final %+v", resp)
	}
}

func TestLoginFailures(t *testing.T) {
	big := make([]byte, 40000)
	for i := range big {
		big[i] = 'a'
	}
	tests := []struct {
		name string
		reqs []*Request // all but the last must succeed
		want Status
	}{
		{"version", []*Request{func() *Request { r := opReq(names()); r.VersionMin = 1; r.VersionMax = 1; return r }()}, UnsupportedVersion},
		{"csg 2", []*Request{func() *Request { r := opReq(names()); r.CSG = 2; return r }()}, InitiatorError},
		{"csg 3", []*Request{func() *Request { r := opReq(names()); r.CSG = 3; return r }()}, InitiatorError},
		{"nsg 2", []*Request{func() *Request { r := opReq(names()); r.NSG = 2; return r }()}, InitiatorError},
		{"nsg not after csg", []*Request{func() *Request { r := opReq(names()); r.NSG = 1; return r }()}, InitiatorError},
		{"nsg 0 from security", []*Request{func() *Request { r := secReq(names()); r.NSG = 0; return r }()}, InitiatorError},
		{"transit and continue", []*Request{func() *Request { r := opReq(names()); r.Continue = true; return r }()}, InitiatorError},
		{"no initiator name", []*Request{opReq(text("TargetName=" + testTarget))}, MissingParameter},
		{"empty initiator name", []*Request{opReq(text("InitiatorName=", "TargetName="+testTarget))}, InitiatorError},
		{"no target name", []*Request{opReq(text("InitiatorName=" + testInitiator))}, MissingParameter},
		{"unknown target", []*Request{opReq(text("InitiatorName="+testInitiator, "TargetName=iqn.nope"))}, NotFound},
		{"not allowed", []*Request{opReq(text("InitiatorName="+testInitiator, "TargetName=iqn.2024-01.org.atgt:closed"))}, AuthorizationFailure},
		{"bad session type", []*Request{opReq(names("SessionType=Bogus"))}, SessionTypeNotSupported},
		{"duplicate key", []*Request{opReq(names("MaxBurstLength=512", "MaxBurstLength=512"))}, InitiatorError},
		{"malformed text", []*Request{opReq(append(names(), []byte("junk\x00")...))}, InitiatorError},
		{"no acceptable auth", []*Request{secReq(names("AuthMethod=CHAP,SRP"))}, AuthFailure},
		{"auth in operational", []*Request{opReq(names("AuthMethod=None"))}, InitiatorError},
		{"key renegotiated", []*Request{
			func() *Request { r := secReq(names("MaxBurstLength=512")); return r }(),
			opReq(text("MaxBurstLength=512")),
		}, InitiatorError},
		{"initiator name changed", []*Request{secReq(names()), opReq(text("InitiatorName=iqn.other"))}, InitiatorError},
		{"isid changed", []*Request{secReq(names()), func() *Request { r := opReq(nil); r.ISID[5] = 9; return r }()}, InitiatorError},
		{"tsih changed", []*Request{secReq(names()), func() *Request { r := opReq(nil); r.TSIH = 3; return r }()}, InitiatorError},
		{"cid changed", []*Request{secReq(names()), func() *Request { r := opReq(nil); r.CID = 3; return r }()}, InitiatorError},
		{"itt changed", []*Request{secReq(names()), func() *Request { r := opReq(nil); r.ITT = 3; return r }()}, InitiatorError},
		{"csg not the stage", []*Request{func() *Request { r := secReq(names()); r.Transit = false; return r }(), opReq(nil)}, InitiatorError},
		{"after done", []*Request{opReq(names()), opReq(nil)}, InitiatorError},
		{"text too long", []*Request{
			func() *Request { r := opReq(big); r.Transit, r.Continue = false, true; return r }(),
			func() *Request { r := opReq(big); r.Transit, r.Continue = false, true; return r }(),
		}, InitiatorError},
		{"nil request", []*Request{nil}, InitiatorError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(testConfig())
			for i, req := range tt.reqs {
				resp, _ := m.Step(req)
				if i < len(tt.reqs)-1 {
					if resp.Status() != StatusSuccess {
						t.Fatalf("request %d failed early: %#x", i, resp.Status())
					}
					continue
				}
				if resp.Status() != tt.want || resp.Transit {
					t.Fatalf("status %#x transit %v, want %#x", resp.Status(), resp.Transit, tt.want)
				}
				if resp.StatusClass != tt.want.Class() || resp.StatusDetail != tt.want.Detail() {
					t.Fatalf("class/detail %d/%d", resp.StatusClass, resp.StatusDetail)
				}
				// a failed machine stays failed
				if again, done := m.Step(opReq(names())); again.Status() == StatusSuccess || done {
					t.Fatal("machine recovered after failure")
				}
			}
		})
	}
}

func TestAuthRejectCarriesReject(t *testing.T) {
	m := NewMachine(testConfig())
	resp, _ := m.Step(secReq(names("AuthMethod=KRB5")))
	if r := replyMap(t, resp); r["AuthMethod"] != "Reject" || resp.Status() != AuthFailure {
		t.Fatalf("resp %+v %v", resp, r)
	}
}

// fakeCHAP needs two rounds: it answers CHAP_A, then accepts CHAP_R=ok.
type fakeCHAP struct{}

func (fakeCHAP) Methods(AuthContext) []string { return []string{"CHAP"} }
func (fakeCHAP) Begin(string, AuthContext) AuthExchange {
	return &fakeExchange{}
}

type fakeExchange struct{ round int }

func (e *fakeExchange) Step(keys []iscsi.KV) ([]iscsi.KV, bool, Status) {
	e.round++
	for _, kv := range keys {
		if kv.Key == "CHAP_R" {
			if kv.Value == "ok" {
				return nil, true, StatusSuccess
			}
			return nil, false, AuthFailure
		}
	}
	return []iscsi.KV{{Key: "CHAP_A", Value: "5"}}, false, StatusSuccess
}

func TestPluggableAuth(t *testing.T) {
	cfg := testConfig()
	cfg.Auth = fakeCHAP{}
	tests := []struct {
		name     string
		second   string
		wantDone bool
		want     Status
	}{
		{"good response", "CHAP_R=ok", true, StatusSuccess},
		{"bad response", "CHAP_R=bad", false, AuthFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(cfg)
			resp, _ := m.Step(secReq(names("AuthMethod=CHAP,None")))
			if r := replyMap(t, resp); resp.Transit || r["AuthMethod"] != "CHAP" || r["CHAP_A"] != "5" {
				t.Fatalf("first %+v %v", resp, r)
			}
			resp, _ = m.Step(secReq(text(tt.second)))
			if resp.Status() != tt.want || resp.Transit != tt.wantDone {
				t.Fatalf("second %+v", resp)
			}
		})
	}
	// skipping the security stage when authentication is required fails
	m := NewMachine(cfg)
	if resp, _ := m.Step(opReq(names())); resp.Status() != AuthFailure {
		t.Fatalf("skip security: %#x", resp.Status())
	}
	m = NewMachine(cfg)
	if resp, _ := m.Step(secReq(names())); resp.Status() != AuthFailure {
		t.Fatalf("transit without AuthMethod: %#x", resp.Status())
	}
}

func TestLimitsNormalized(t *testing.T) {
	m := NewMachine(Config{Lookup: testConfig().Lookup}) // zero Limits
	resp, done := m.Step(opReq(names("MaxBurstLength=65536", "HeaderDigest=CRC32C")))
	r := replyMap(t, resp)
	if !done || r["MaxBurstLength"] != "65536" || r["HeaderDigest"] != "CRC32C" || r["MaxRecvDataSegmentLength"] != "262144" {
		t.Fatalf("reply %v", r)
	}
}
