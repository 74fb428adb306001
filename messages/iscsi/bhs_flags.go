package iscsi

// Named bits of byte 1. Each accessor is for the PDU types its comment names; on
// another type it reads or writes whatever that type keeps in the same bit.

func (h *BHS) flag(mask uint8) bool { return h[1]&mask != 0 }

func (h *BHS) setFlag(mask uint8, v bool) {
	if v {
		h[1] |= mask
	} else {
		h[1] &^= mask
	}
}

// CmdRead reports R of a SCSI Command: the initiator expects Data-In.
func (h *BHS) CmdRead() bool { return h.flag(CmdFlagRead) }

// SetCmdRead sets or clears R of a SCSI Command.
func (h *BHS) SetCmdRead(v bool) { h.setFlag(CmdFlagRead, v) }

// CmdWrite reports W of a SCSI Command: the initiator will send Data-Out.
func (h *BHS) CmdWrite() bool { return h.flag(CmdFlagWrite) }

// SetCmdWrite sets or clears W of a SCSI Command.
func (h *BHS) SetCmdWrite(v bool) { h.setFlag(CmdFlagWrite, v) }

// TaskAttr returns ATTR of a SCSI Command (a TaskAttr... value).
func (h *BHS) TaskAttr() uint8 { return h[1] & CmdAttrMask }

// SetTaskAttr sets ATTR of a SCSI Command, keeping F, R and W.
func (h *BHS) SetTaskAttr(a uint8) { h[1] = h[1]&^CmdAttrMask | a&CmdAttrMask }

// HasStatus reports S of a Data-In: the PDU ends the command with its status.
func (h *BHS) HasStatus() bool { return h.flag(DataInFlagStatus) }

// SetHasStatus sets or clears S of a Data-In.
func (h *BHS) SetHasStatus(v bool) { h.setFlag(DataInFlagStatus, v) }

// AckRequested reports A of a Data-In: the target wants a DataACK SNACK.
func (h *BHS) AckRequested() bool { return h.flag(DataInFlagAck) }

// SetAckRequested sets or clears A of a Data-In.
func (h *BHS) SetAckRequested(v bool) { h.setFlag(DataInFlagAck, v) }

// ResidualOverflow reports O of a SCSI Response or a Data-In with S: ResidualCount
// is data the target did not move because the buffer was too small.
func (h *BHS) ResidualOverflow() bool { return h.flag(FlagResidualOverflow) }

// SetResidualOverflow sets or clears O of a SCSI Response or Data-In.
func (h *BHS) SetResidualOverflow(v bool) { h.setFlag(FlagResidualOverflow, v) }

// ResidualUnderflow reports U of a SCSI Response or a Data-In with S: ResidualCount
// is the part of the expected length that was not moved.
func (h *BHS) ResidualUnderflow() bool { return h.flag(FlagResidualUnderflow) }

// SetResidualUnderflow sets or clears U of a SCSI Response or Data-In.
func (h *BHS) SetResidualUnderflow(v bool) { h.setFlag(FlagResidualUnderflow, v) }

// BidiResidualOverflow reports o of a SCSI Response: the read half of a
// bidirectional command overflowed (BidiReadResidualCount holds the excess).
func (h *BHS) BidiResidualOverflow() bool { return h.flag(RespFlagBidiOverflow) }

// SetBidiResidualOverflow sets or clears o of a SCSI Response.
func (h *BHS) SetBidiResidualOverflow(v bool) { h.setFlag(RespFlagBidiOverflow, v) }

// BidiResidualUnderflow reports u of a SCSI Response: the read half of a
// bidirectional command underflowed.
func (h *BHS) BidiResidualUnderflow() bool { return h.flag(RespFlagBidiUnderflow) }

// SetBidiResidualUnderflow sets or clears u of a SCSI Response.
func (h *BHS) SetBidiResidualUnderflow(v bool) { h.setFlag(RespFlagBidiUnderflow, v) }

// Continue reports C of a Login or Text PDU: more text follows in the next PDU.
func (h *BHS) Continue() bool { return h.flag(FlagContinue) }

// SetContinue sets or clears C of a Login or Text PDU.
func (h *BHS) SetContinue(v bool) { h.setFlag(FlagContinue, v) }
