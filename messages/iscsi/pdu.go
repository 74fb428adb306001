package iscsi

import (
	"fmt"
	"strings"
)

// PDU is one iSCSI PDU: header, optional AHS, data segment (unpadded). Digests and
// padding exist only on the wire; the Reader strips them and AppendPDU adds them.
type PDU struct {
	BHS  BHS
	AHS  []byte
	Data []byte
}

// String is a short one-line summary for debug logs, showing the fields that matter
// for the PDU's type (tags, sequence numbers, offsets, data length).
func (p *PDU) String() string {
	h := &p.BHS
	var b strings.Builder
	op := h.Opcode()
	b.WriteString(op.String())
	if h.Immediate() {
		b.WriteString(" I")
	}
	if h.Final() {
		b.WriteString(" F")
	}
	fmt.Fprintf(&b, " itt=%#x", h.ITT())
	switch op {
	case OpSCSICmd:
		fmt.Fprintf(&b, " lun=%#x cmdsn=%d edtl=%d cdb=%#02x", h.LUN(), h.CmdSN(),
			h.ExpectedDataTransferLength(), h.CDB()[0])
	case OpDataOut:
		fmt.Fprintf(&b, " ttt=%#x datasn=%d off=%d", h.TTT(), h.DataSN(), h.BufferOffset())
	case OpDataIn:
		fmt.Fprintf(&b, " ttt=%#x datasn=%d off=%d", h.TTT(), h.DataSN(), h.BufferOffset())
		if h.Flags()&0x01 != 0 {
			fmt.Fprintf(&b, " S status=%#02x statsn=%d resid=%d", h.Status(), h.StatSN(), h.ResidualCount())
		}
	case OpR2T:
		fmt.Fprintf(&b, " ttt=%#x statsn=%d r2tsn=%d off=%d len=%d", h.TTT(), h.StatSN(), h.R2TSN(),
			h.BufferOffset(), h.DesiredDataTransferLength())
	case OpSCSIResp:
		fmt.Fprintf(&b, " resp=%#02x status=%#02x statsn=%d resid=%d", h.Response(), h.Status(),
			h.StatSN(), h.ResidualCount())
	case OpReject:
		fmt.Fprintf(&b, " reason=%#02x statsn=%d", h.Response(), h.StatSN())
	case OpLoginReq, OpLoginResp:
		fmt.Fprintf(&b, " flags=%#02x csg=%d nsg=%d", h.Flags(), h.Flags()>>2&3, h.Flags()&3)
		if op == OpLoginReq {
			fmt.Fprintf(&b, " cmdsn=%d", h.CmdSN())
		} else {
			fmt.Fprintf(&b, " status=%#02x%02x statsn=%d", h.Response(), h.Status(), h.StatSN())
		}
	case OpNopOut, OpNopIn, OpTextReq, OpTextResp:
		fmt.Fprintf(&b, " ttt=%#x sn=%d", h.TTT(), h.CmdSN())
	default:
		if op.Initiator() {
			fmt.Fprintf(&b, " cmdsn=%d", h.CmdSN())
		} else {
			fmt.Fprintf(&b, " statsn=%d", h.StatSN())
		}
	}
	if len(p.AHS) > 0 {
		fmt.Fprintf(&b, " ahs=%d", len(p.AHS))
	}
	fmt.Fprintf(&b, " data=%d", len(p.Data))
	return b.String()
}
