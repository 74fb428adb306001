package login

import "testing"

func TestOperationalKeys(t *testing.T) {
	tests := []struct {
		name   string
		offer  []string
		key    string
		answer string // "" = key absent from the response
		check  func(Params) bool
	}{
		{"header digest prefers initiator order", []string{"HeaderDigest=None,CRC32C"}, "HeaderDigest", "None", func(p Params) bool { return !p.HeaderDigest }},
		{"header digest crc first", []string{"HeaderDigest=CRC32C,None"}, "HeaderDigest", "CRC32C", func(p Params) bool { return p.HeaderDigest }},
		{"header digest unknown", []string{"HeaderDigest=MD5"}, "HeaderDigest", "Reject", func(p Params) bool { return !p.HeaderDigest }},
		{"header digest empty", []string{"HeaderDigest="}, "HeaderDigest", "Reject", func(p Params) bool { return !p.HeaderDigest }},
		{"data digest crc", []string{"DataDigest=CRC32C"}, "DataDigest", "CRC32C", func(p Params) bool { return p.DataDigest }},
		{"data digest none", []string{"DataDigest=None"}, "DataDigest", "None", func(p Params) bool { return !p.DataDigest }},
		{"max connections min", []string{"MaxConnections=4"}, "MaxConnections", "1", func(p Params) bool { return p.MaxConnections == 1 }},
		{"max connections zero", []string{"MaxConnections=0"}, "MaxConnections", "Reject", func(p Params) bool { return p.MaxConnections == 1 }},
		{"max connections too big", []string{"MaxConnections=65536"}, "MaxConnections", "Reject", nil},
		{"initial r2t yes", []string{"InitialR2T=Yes"}, "InitialR2T", "Yes", func(p Params) bool { return p.InitialR2T }},
		{"initial r2t no", []string{"InitialR2T=No"}, "InitialR2T", "No", func(p Params) bool { return !p.InitialR2T }},
		{"initial r2t bad", []string{"InitialR2T=maybe"}, "InitialR2T", "Reject", func(p Params) bool { return p.InitialR2T }},
		{"immediate data yes", []string{"ImmediateData=Yes"}, "ImmediateData", "Yes", func(p Params) bool { return p.ImmediateData }},
		{"immediate data no", []string{"ImmediateData=No"}, "ImmediateData", "No", func(p Params) bool { return !p.ImmediateData }},
		{"immediate data lowercase", []string{"ImmediateData=yes"}, "ImmediateData", "Reject", func(p Params) bool { return p.ImmediateData }},
		{"mrdsl declared", []string{"MaxRecvDataSegmentLength=65536"}, "MaxRecvDataSegmentLength", "262144", func(p Params) bool {
			return p.MaxRecvDataSegmentLength == 65536 && p.MaxXmitDataSegmentLength == 262144
		}},
		{"mrdsl hex", []string{"MaxRecvDataSegmentLength=0x10000"}, "MaxRecvDataSegmentLength", "262144", func(p Params) bool { return p.MaxRecvDataSegmentLength == 65536 }},
		{"mrdsl too small ignored", []string{"MaxRecvDataSegmentLength=511"}, "MaxRecvDataSegmentLength", "262144", func(p Params) bool { return p.MaxRecvDataSegmentLength == 8192 }},
		{"max burst min", []string{"MaxBurstLength=262144"}, "MaxBurstLength", "262144", func(p Params) bool { return p.MaxBurstLength == 262144 }},
		{"max burst limited", []string{"MaxBurstLength=4194304"}, "MaxBurstLength", "1048576", func(p Params) bool { return p.MaxBurstLength == 1048576 }},
		{"max burst too small", []string{"MaxBurstLength=100"}, "MaxBurstLength", "Reject", func(p Params) bool { return p.MaxBurstLength == 262144 }},
		{"max burst not a number", []string{"MaxBurstLength=12ab"}, "MaxBurstLength", "Reject", nil},
		{"max burst negative", []string{"MaxBurstLength=-1"}, "MaxBurstLength", "Reject", nil},
		{"first burst", []string{"FirstBurstLength=65536"}, "FirstBurstLength", "65536", func(p Params) bool { return p.FirstBurstLength == 65536 }},
		{"first burst limited", []string{"FirstBurstLength=1048576"}, "FirstBurstLength", "262144", func(p Params) bool { return p.FirstBurstLength == 262144 }},
		{"first burst under max burst", []string{"FirstBurstLength=65536", "MaxBurstLength=8192"}, "FirstBurstLength", "8192", func(p Params) bool {
			return p.FirstBurstLength == 8192 && p.MaxBurstLength == 8192
		}},
		{"first burst irrelevant", []string{"FirstBurstLength=65536", "InitialR2T=Yes", "ImmediateData=No"}, "FirstBurstLength", "Irrelevant", func(p Params) bool {
			return !p.FirstBurstRelevant()
		}},
		{"first burst bad", []string{"FirstBurstLength=0x"}, "FirstBurstLength", "Reject", func(p Params) bool { return p.FirstBurstLength == 65536 }},
		{"time2wait max", []string{"DefaultTime2Wait=0"}, "DefaultTime2Wait", "2", func(p Params) bool { return p.DefaultTime2Wait == 2 }},
		{"time2wait larger", []string{"DefaultTime2Wait=10"}, "DefaultTime2Wait", "10", func(p Params) bool { return p.DefaultTime2Wait == 10 }},
		{"time2wait range", []string{"DefaultTime2Wait=3601"}, "DefaultTime2Wait", "Reject", nil},
		{"time2retain min", []string{"DefaultTime2Retain=0"}, "DefaultTime2Retain", "0", func(p Params) bool { return p.DefaultTime2Retain == 0 }},
		{"time2retain limited", []string{"DefaultTime2Retain=100"}, "DefaultTime2Retain", "20", func(p Params) bool { return p.DefaultTime2Retain == 20 }},
		{"r2t min", []string{"MaxOutstandingR2T=1"}, "MaxOutstandingR2T", "1", func(p Params) bool { return p.MaxOutstandingR2T == 1 }},
		{"r2t limited", []string{"MaxOutstandingR2T=100"}, "MaxOutstandingR2T", "16", func(p Params) bool { return p.MaxOutstandingR2T == 16 }},
		{"r2t zero", []string{"MaxOutstandingR2T=0"}, "MaxOutstandingR2T", "Reject", nil},
		{"pdu in order", []string{"DataPDUInOrder=No"}, "DataPDUInOrder", "Yes", func(p Params) bool { return p.DataPDUInOrder }},
		{"sequence in order", []string{"DataSequenceInOrder=No"}, "DataSequenceInOrder", "Yes", func(p Params) bool { return p.DataSequenceInOrder }},
		{"erl min", []string{"ErrorRecoveryLevel=2"}, "ErrorRecoveryLevel", "0", func(p Params) bool { return p.ErrorRecoveryLevel == 0 }},
		{"erl range", []string{"ErrorRecoveryLevel=3"}, "ErrorRecoveryLevel", "Reject", nil},
		{"ifmarker obsolete", []string{"IFMarker=No"}, "IFMarker", "Reject", nil},
		{"ofmarker obsolete", []string{"OFMarker=No"}, "OFMarker", "Reject", nil},
		{"ofmarkint obsolete", []string{"OFMarkInt=2048"}, "OFMarkInt", "Reject", nil},
		{"ifmarkint obsolete", []string{"IFMarkInt=2048~8192"}, "IFMarkInt", "Reject", nil},
		{"private key", []string{"X-com.example.foo=1"}, "X-com.example.foo", "NotUnderstood", nil},
		{"public extension", []string{"X#foo=1"}, "X#foo", "NotUnderstood", nil},
		{"protocol level", []string{"iSCSIProtocolLevel=2"}, "iSCSIProtocolLevel", "NotUnderstood", nil},
		{"task reporting", []string{"TaskReporting=FastAbort"}, "TaskReporting", "NotUnderstood", nil},
		{"unknown key", []string{"Bogus=1"}, "Bogus", "NotUnderstood", nil},
		{"chap key without method", []string{"CHAP_A=5"}, "CHAP_A", "", nil},
		{"target address from initiator", []string{"TargetAddress=1.2.3.4"}, "TargetAddress", "Irrelevant", nil},
		{"tpgt from initiator", []string{"TargetPortalGroupTag=9"}, "TargetPortalGroupTag", "1", nil},
		{"send targets in login", []string{"SendTargets=All"}, "SendTargets", "Irrelevant", nil},
		{"alias not answered", []string{"InitiatorAlias=host"}, "InitiatorAlias", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(testConfig())
			resp, done := m.Step(opReq(names(tt.offer...)))
			if tt.name == "chap key without method" {
				// a security key in the operational stage is a protocol error
				if resp.Status() != InitiatorError {
					t.Fatalf("status %#x, want initiator error", resp.Status())
				}
				return
			}
			if resp.Status() != StatusSuccess || !done {
				t.Fatalf("status %#x done %v", resp.Status(), done)
			}
			got, ok := replyMap(t, resp)[tt.key]
			if tt.answer == "" {
				if ok {
					t.Fatalf("%s answered %q, want no answer", tt.key, got)
				}
			} else if got != tt.answer {
				t.Fatalf("%s=%q, want %q", tt.key, got, tt.answer)
			}
			if tt.check != nil && !tt.check(m.Result().Params) {
				t.Fatalf("params %+v", m.Result().Params)
			}
		})
	}
}

func TestDefaultsWhenNotOffered(t *testing.T) {
	m := NewMachine(testConfig())
	resp, done := m.Step(opReq(names()))
	if !done || resp.Status() != StatusSuccess {
		t.Fatalf("status %#x done %v", resp.Status(), done)
	}
	want := DefaultParams()
	want.MaxXmitDataSegmentLength = 262144 // the target's declaration
	if got := m.Result().Params; got != want {
		t.Fatalf("params\n got %+v\nwant %+v", got, want)
	}
	r := replyMap(t, resp)
	if r["MaxRecvDataSegmentLength"] != "262144" || r["TargetPortalGroupTag"] != "1" || r["TargetAlias"] != "disk1" {
		t.Fatalf("reply %v", r)
	}
}

func TestLeadingOnlyKeysOnAddedConnection(t *testing.T) {
	m := NewMachine(testConfig())
	req := opReq(names("MaxBurstLength=65536", "HeaderDigest=CRC32C"))
	req.TSIH = 5
	resp, done := m.Step(req)
	if !done {
		t.Fatalf("status %#x", resp.Status())
	}
	r := replyMap(t, resp)
	if r["MaxBurstLength"] != "Irrelevant" || r["HeaderDigest"] != "CRC32C" {
		t.Fatalf("reply %v", r)
	}
	if m.Result().TSIH != 5 {
		t.Fatalf("tsih %d", m.Result().TSIH)
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"512", 512, true}, {"0x200", 512, true}, {"0X1f", 31, true},
		{"", 0, false}, {"0x", 0, false}, {"1e3", 0, false}, {"+5", 0, false}, {"18446744073709551616", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseNumber(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseNumber(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
