package iscsi

import "fmt"

// Opcode is the 6-bit PDU type in byte 0 of the BHS (RFC 7143 section 11.2.1.2).
type Opcode uint8

// Initiator opcodes: PDUs the target receives.
const (
	OpNopOut      Opcode = 0x00
	OpSCSICmd     Opcode = 0x01
	OpTaskMgmtReq Opcode = 0x02
	OpLoginReq    Opcode = 0x03
	OpTextReq     Opcode = 0x04
	OpDataOut     Opcode = 0x05
	OpLogoutReq   Opcode = 0x06
	OpSNACKReq    Opcode = 0x10
)

// Target opcodes: PDUs the target sends.
const (
	OpNopIn        Opcode = 0x20
	OpSCSIResp     Opcode = 0x21
	OpTaskMgmtResp Opcode = 0x22
	OpLoginResp    Opcode = 0x23
	OpTextResp     Opcode = 0x24
	OpDataIn       Opcode = 0x25
	OpLogoutResp   Opcode = 0x26
	OpR2T          Opcode = 0x31
	OpAsyncMsg     Opcode = 0x32
	OpReject       Opcode = 0x3f
)

var opcodeNames = map[Opcode]string{
	OpNopOut:       "NOP-Out",
	OpSCSICmd:      "SCSI-Cmd",
	OpTaskMgmtReq:  "TMF-Req",
	OpLoginReq:     "Login-Req",
	OpTextReq:      "Text-Req",
	OpDataOut:      "Data-Out",
	OpLogoutReq:    "Logout-Req",
	OpSNACKReq:     "SNACK",
	OpNopIn:        "NOP-In",
	OpSCSIResp:     "SCSI-Resp",
	OpTaskMgmtResp: "TMF-Resp",
	OpLoginResp:    "Login-Resp",
	OpTextResp:     "Text-Resp",
	OpDataIn:       "Data-In",
	OpLogoutResp:   "Logout-Resp",
	OpR2T:          "R2T",
	OpAsyncMsg:     "Async-Msg",
	OpReject:       "Reject",
}

// String names the opcode for logs; unknown values print as hex so a bad PDU is visible.
func (o Opcode) String() string {
	if s, ok := opcodeNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Opcode(0x%02x)", uint8(o))
}

// Initiator reports whether the opcode is one an initiator sends (the target receives).
func (o Opcode) Initiator() bool { return o < 0x20 }
