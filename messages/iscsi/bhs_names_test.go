package iscsi

import "testing"

// TestNamedFieldsGolden builds headers with the named accessors and compares them
// with the bytes RFC 7143 gives: want lists the non-zero bytes, every other byte must
// stay zero, and the getters must read back what was set.
func TestNamedFieldsGolden(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*BHS)
		want  map[int]byte
		check func(*BHS) bool
	}{
		{"SCSI Command F R SIMPLE",
			func(h *BHS) { h.SetFinal(true); h.SetCmdRead(true); h.SetTaskAttr(TaskAttrSimple) },
			map[int]byte{1: 0xc1},
			func(h *BHS) bool { return h.Final() && h.CmdRead() && !h.CmdWrite() && h.TaskAttr() == TaskAttrSimple }},
		{"SCSI Command F W ORDERED",
			func(h *BHS) { h.SetFinal(true); h.SetCmdWrite(true); h.SetTaskAttr(TaskAttrOrdered) },
			map[int]byte{1: 0xa2},
			func(h *BHS) bool { return h.CmdWrite() && !h.CmdRead() && h.TaskAttr() == TaskAttrOrdered }},
		{"task attribute ACA, out-of-range bits dropped",
			func(h *BHS) { h.SetTaskAttr(0xf8 | TaskAttrACA) },
			map[int]byte{1: 0x04},
			func(h *BHS) bool { return h.TaskAttr() == TaskAttrACA && !h.Final() }},
		{"Data-In F S U",
			func(h *BHS) { h.SetFinal(true); h.SetHasStatus(true); h.SetResidualUnderflow(true) },
			map[int]byte{1: 0x83},
			func(h *BHS) bool {
				return h.HasStatus() && h.ResidualUnderflow() && !h.ResidualOverflow() && !h.AckRequested()
			}},
		{"Data-In A O",
			func(h *BHS) { h.SetAckRequested(true); h.SetResidualOverflow(true) },
			map[int]byte{1: 0x44},
			func(h *BHS) bool { return h.AckRequested() && h.ResidualOverflow() && !h.HasStatus() }},
		{"SCSI Response o u",
			func(h *BHS) { h.SetFinal(true); h.SetBidiResidualOverflow(true); h.SetBidiResidualUnderflow(true) },
			map[int]byte{1: 0x98},
			func(h *BHS) bool { return h.BidiResidualOverflow() && h.BidiResidualUnderflow() }},
		{"Login T CSG=1 NSG=3",
			func(h *BHS) {
				h.SetTransit(true)
				h.SetCSG(LoginStageOperational)
				h.SetNSG(LoginStageFullFeature)
			},
			map[int]byte{1: 0x87},
			func(h *BHS) bool {
				return h.Transit() && !h.Continue() && h.CSG() == LoginStageOperational && h.NSG() == LoginStageFullFeature
			}},
		{"Login C CSG=0",
			func(h *BHS) { h.SetContinue(true); h.SetCSG(LoginStageSecurity) },
			map[int]byte{1: 0x40},
			func(h *BHS) bool { return h.Continue() && !h.Transit() && h.CSG() == LoginStageSecurity }},
		{"Login stages replace, not or",
			func(h *BHS) {
				h.SetCSG(3)
				h.SetNSG(3)
				h.SetCSG(LoginStageOperational)
				h.SetNSG(LoginStageOperational)
			},
			map[int]byte{1: 0x05},
			func(h *BHS) bool { return h.CSG() == 1 && h.NSG() == 1 }},
		{"Login versions, ISID, TSIH, CID",
			func(h *BHS) {
				h.SetVersionMax(0x01)
				h.SetVersionMin(0x02)
				h.SetISID([6]byte{0x80, 0x12, 0x34, 0x56, 0x78, 0x9a})
				h.SetTSIH(0xbeef)
				h.SetCID(0x0102)
			},
			map[int]byte{2: 0x01, 3: 0x02, 8: 0x80, 9: 0x12, 10: 0x34, 11: 0x56, 12: 0x78, 13: 0x9a,
				14: 0xbe, 15: 0xef, 20: 0x01, 21: 0x02},
			func(h *BHS) bool {
				return h.VersionMax() == 1 && h.VersionMin() == 2 && h.VersionActive() == 2 &&
					h.ISID() == [6]byte{0x80, 0x12, 0x34, 0x56, 0x78, 0x9a} && h.TSIH() == 0xbeef && h.CID() == 0x0102
			}},
		{"Login Response status 2/0x0b",
			func(h *BHS) { h.SetVersionActive(0); h.SetLoginStatus(LoginStatusInvalidDuringLogin) },
			map[int]byte{36: 0x02, 37: 0x0b},
			func(h *BHS) bool {
				return h.StatusClass() == LoginClassInitiatorError && h.StatusDetail() == 0x0b &&
					h.LoginStatus() == LoginStatusInvalidDuringLogin
			}},
		{"Login Response status 3/2",
			func(h *BHS) { h.SetLoginStatus(LoginStatusOutOfResources) },
			map[int]byte{36: 0x03, 37: 0x02},
			func(h *BHS) bool { return h.StatusClass() == LoginClassTargetError && h.StatusDetail() == 2 }},
		{"TMF ABORT TASK",
			func(h *BHS) {
				h.SetTMFFunction(TMFAbortTask)
				h.SetReferencedTaskTag(0x11223344)
				h.SetRefCmdSN(0x55667788)
				h.SetExpDataSN(9)
			},
			map[int]byte{1: 0x81, 20: 0x11, 21: 0x22, 22: 0x33, 23: 0x44, 32: 0x55, 33: 0x66, 34: 0x77, 35: 0x88, 39: 9},
			func(h *BHS) bool {
				return h.TMFFunction() == TMFAbortTask && h.Final() && h.ReferencedTaskTag() == 0x11223344 &&
					h.RefCmdSN() == 0x55667788 && h.ExpDataSN() == 9
			}},
		{"TMF QUERY ASYNC EVENT",
			func(h *BHS) { h.SetTMFFunction(TMFQueryAsyncEvent) },
			map[int]byte{1: 0x8b},
			func(h *BHS) bool { return h.TMFFunction() == 11 }},
		{"TMF function keeps 7 bits",
			func(h *BHS) { h.SetTMFFunction(0x80 | TMFLUNReset) },
			map[int]byte{1: 0x85},
			func(h *BHS) bool { return h.TMFFunction() == TMFLUNReset }},
		{"Logout close connection",
			func(h *BHS) { h.SetLogoutReason(LogoutCloseConnection); h.SetCID(7) },
			map[int]byte{1: 0x81, 21: 7},
			func(h *BHS) bool { return h.LogoutReason() == LogoutCloseConnection && h.CID() == 7 }},
		{"Logout Response times",
			func(h *BHS) { h.SetResponse(LogoutRespCIDNotFound); h.SetTime2Wait(2); h.SetTime2Retain(0x0120) },
			map[int]byte{2: 1, 41: 2, 42: 0x01, 43: 0x20},
			func(h *BHS) bool { return h.Time2Wait() == 2 && h.Time2Retain() == 0x120 }},
		{"Async drop connection",
			func(h *BHS) {
				h.SetAsyncEvent(AsyncDropConnection)
				h.SetAsyncVCode(0x33)
				h.SetAsyncParameters(1, 2, 20)
			},
			map[int]byte{36: 2, 37: 0x33, 39: 1, 41: 2, 43: 20},
			func(h *BHS) bool {
				p1, p2, p3 := h.AsyncParameters()
				return h.AsyncEvent() == AsyncDropConnection && h.AsyncVCode() == 0x33 && p1 == 1 && p2 == 2 && p3 == 20
			}},
		{"SCSI Response bidi residual",
			func(h *BHS) { h.SetBidiReadResidualCount(0x0a0b0c0d) },
			map[int]byte{40: 0x0a, 41: 0x0b, 42: 0x0c, 43: 0x0d},
			func(h *BHS) bool { return h.BidiReadResidualCount() == 0x0a0b0c0d }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h, want BHS
			tc.set(&h)
			for off, b := range tc.want {
				want[off] = b
			}
			if h != want {
				t.Fatalf("got  % x\nwant % x", h, want)
			}
			if !tc.check(&h) {
				t.Fatalf("getters disagree with % x", h)
			}
		})
	}
}

// TestFlagClearing: clearing one bit of byte 1 leaves every other bit as it was.
func TestFlagClearing(t *testing.T) {
	tests := []struct {
		name  string
		clear func(*BHS)
		want  byte
	}{
		{"R", func(h *BHS) { h.SetCmdRead(false) }, 0xbf},
		{"W", func(h *BHS) { h.SetCmdWrite(false) }, 0xdf},
		{"ATTR", func(h *BHS) { h.SetTaskAttr(TaskAttrUntagged) }, 0xf8},
		{"A", func(h *BHS) { h.SetAckRequested(false) }, 0xbf},
		{"S", func(h *BHS) { h.SetHasStatus(false) }, 0xfe},
		{"O", func(h *BHS) { h.SetResidualOverflow(false) }, 0xfb},
		{"U", func(h *BHS) { h.SetResidualUnderflow(false) }, 0xfd},
		{"o", func(h *BHS) { h.SetBidiResidualOverflow(false) }, 0xef},
		{"u", func(h *BHS) { h.SetBidiResidualUnderflow(false) }, 0xf7},
		{"T", func(h *BHS) { h.SetTransit(false) }, 0x7f},
		{"C", func(h *BHS) { h.SetContinue(false) }, 0xbf},
		{"CSG", func(h *BHS) { h.SetCSG(LoginStageSecurity) }, 0xf3},
		{"NSG", func(h *BHS) { h.SetNSG(LoginStageSecurity) }, 0xfc},
	}
	for _, tc := range tests {
		var h BHS
		h[1] = 0xff
		tc.clear(&h)
		if h[1] != tc.want {
			t.Errorf("%s: byte 1 %#02x, want %#02x", tc.name, h[1], tc.want)
		}
	}
}

// TestLoginStatusParts: Class and Detail split the value as the wire carries it.
func TestLoginStatusParts(t *testing.T) {
	tests := []struct {
		s             LoginStatus
		class, detail uint8
	}{
		{LoginStatusSuccess, LoginClassSuccess, 0},
		{LoginStatusTargetMovedPerm, LoginClassRedirection, 2},
		{LoginStatusNotFound, LoginClassInitiatorError, 3},
		{LoginStatusSessionTypeNotSupported, LoginClassInitiatorError, 9},
		{LoginStatusServiceUnavailable, LoginClassTargetError, 1},
	}
	for _, tc := range tests {
		if tc.s.Class() != tc.class || tc.s.Detail() != tc.detail {
			t.Errorf("%#04x: class %d detail %d, want %d %d", uint16(tc.s), tc.s.Class(), tc.s.Detail(), tc.class, tc.detail)
		}
	}
}
