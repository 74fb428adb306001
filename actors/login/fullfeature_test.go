package login

import "testing"

// TestFullFeatureKey: the answers to keys in a full feature phase Text Request
// (RFC 7143 6.2, 13): MaxRecvDataSegmentLength is taken when it lies in 512..2^24-1
// (decimal or hex) and answered with the target's declaration; login-only keys get
// Reject, target-only keys Irrelevant, unknown keys NotUnderstood, InitiatorAlias
// nothing.
func TestFullFeatureKey(t *testing.T) {
	for _, c := range []struct {
		key, value, answer string
		maxRecv            uint32
	}{
		{"MaxRecvDataSegmentLength", "4096", "65536", 4096},
		{"MaxRecvDataSegmentLength", "512", "65536", 512},
		{"MaxRecvDataSegmentLength", "0xffffff", "65536", 16777215},
		{"MaxRecvDataSegmentLength", "16777216", "Reject", 0},
		{"MaxRecvDataSegmentLength", "511", "Reject", 0},
		{"MaxRecvDataSegmentLength", "", "Reject", 0},
		{"MaxRecvDataSegmentLength", "4k", "Reject", 0},
		{"MaxConnections", "2", "Reject", 0},
		{"FirstBurstLength", "512", "Reject", 0},
		{"HeaderDigest", "CRC32C", "Reject", 0},
		{"ErrorRecoveryLevel", "1", "Reject", 0},
		{"SessionType", "Normal", "Reject", 0},
		{"InitiatorName", "iqn.2026-11.test:i", "Reject", 0},
		{"TargetName", "iqn.2026-11.test:t", "Reject", 0},
		{"AuthMethod", "None", "Reject", 0},
		{"CHAP_A", "5", "Reject", 0},
		{"OFMarker", "No", "Reject", 0},
		{"TargetAlias", "x", "Irrelevant", 0},
		{"TargetPortalGroupTag", "1", "Irrelevant", 0},
		{"TargetAddress", "127.0.0.1", "Irrelevant", 0},
		{"X-com.example.k", "v", "NotUnderstood", 0},
		{"iSCSIProtocolLevel", "2", "NotUnderstood", 0},
		{"InitiatorAlias", "host", "", 0},
	} {
		answer, maxRecv := FullFeatureKey(c.key, c.value, 65536)
		if answer != c.answer || maxRecv != c.maxRecv {
			t.Errorf("%s=%s: answer %q, new value %d; want %q, %d", c.key, c.value, answer, maxRecv, c.answer, c.maxRecv)
		}
	}
}
