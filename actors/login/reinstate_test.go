package login

import "testing"

// TestLoginReinstatedConnection: the login of a connection that reinstates one of a
// live session (RFC 7143 6.3.4: a non-zero TSIH and the connection's CID) negotiates
// only the connection's keys. The Leading Only keys, which RFC 7143 6.3 says cannot
// change after the leading login "with regard to connection restart" too, are
// answered Irrelevant and left unapplied; Continued then takes them from the session,
// and the digests and data segment lengths from this login.
func TestLoginReinstatedConnection(t *testing.T) {
	m := NewMachine(testConfig())
	req := opReq(text(append([]string{"InitialR2T=No", "ImmediateData=No", "MaxBurstLength=16384",
		"MaxOutstandingR2T=4", "HeaderDigest=CRC32C,None", "MaxRecvDataSegmentLength=65536",
		"ErrorRecoveryLevel=0", "MaxConnections=1", "FirstBurstLength=8192"},
		"InitiatorName="+testInitiator, "TargetName="+testTarget, "SessionType=Normal")...))
	req.TSIH, req.CID = 9, 4
	resp, done := m.Step(req)
	if !done || resp.Status() != StatusSuccess || resp.TSIH != 9 {
		t.Fatalf("resp %+v done %v", resp, done)
	}
	r := replyMap(t, resp)
	for _, k := range []string{"InitialR2T", "ImmediateData", "MaxBurstLength", "MaxOutstandingR2T",
		"ErrorRecoveryLevel", "MaxConnections", "FirstBurstLength"} {
		if r[k] != valIrrelevant {
			t.Errorf("%s=%q, want Irrelevant (Leading Only, a non-leading login)", k, r[k])
		}
	}
	if r["HeaderDigest"] != "CRC32C" || r["MaxRecvDataSegmentLength"] == "" {
		t.Errorf("connection keys: HeaderDigest=%q MaxRecvDataSegmentLength=%q", r["HeaderDigest"], r["MaxRecvDataSegmentLength"])
	}
	res := m.Result()
	if res.TSIH != 9 || res.CID != 4 {
		t.Fatalf("result TSIH %d CID %d, want 9 and 4", res.TSIH, res.CID)
	}
	session := DefaultParams()
	session.InitialR2T, session.ImmediateData, session.MaxBurstLength, session.FirstBurstLength = false, false, 131072, 32768
	session.MaxOutstandingR2T, session.MaxRecvDataSegmentLength, session.MaxXmitDataSegmentLength = 2, 8192, 8192
	p := Continued(res.Params, session)
	if !p.HeaderDigest || p.DataDigest || p.MaxRecvDataSegmentLength != 65536 ||
		p.MaxXmitDataSegmentLength != DefaultLimits().MaxRecvDataSegmentLength {
		t.Errorf("connection keys of the continued params: %+v", p)
	}
	if p.InitialR2T || p.ImmediateData || p.MaxBurstLength != 131072 || p.FirstBurstLength != 32768 || p.MaxOutstandingR2T != 2 {
		t.Errorf("session keys of the continued params: %+v, want the session's", p)
	}
}
