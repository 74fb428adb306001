package iscsi

// Named 32-bit fields. Several PDU types put different fields at the same offset; each
// name is the RFC 7143 name for the PDUs that use it, so call sites read like the RFC.

// TTT returns the Target Transfer Tag (bytes 20..23).
func (h *BHS) TTT() uint32 { return h.Field32(20) }

// SetTTT sets the Target Transfer Tag.
func (h *BHS) SetTTT(v uint32) { h.SetField32(20, v) }

// ReferencedTaskTag returns bytes 20..23 of a Task Management Function Request: the
// ITT of the task ABORT TASK or QUERY TASK is about.
func (h *BHS) ReferencedTaskTag() uint32 { return h.Field32(20) }

// SetReferencedTaskTag sets bytes 20..23 of a Task Management Function Request.
func (h *BHS) SetReferencedTaskTag(v uint32) { h.SetField32(20, v) }

// ExpectedDataTransferLength returns bytes 20..23 of a SCSI Command.
func (h *BHS) ExpectedDataTransferLength() uint32 { return h.Field32(20) }

// SetExpectedDataTransferLength sets bytes 20..23 of a SCSI Command.
func (h *BHS) SetExpectedDataTransferLength(v uint32) { h.SetField32(20, v) }

// CmdSN returns bytes 24..27 of an initiator PDU.
func (h *BHS) CmdSN() uint32 { return h.Field32(24) }

// SetCmdSN sets bytes 24..27 of an initiator PDU.
func (h *BHS) SetCmdSN(v uint32) { h.SetField32(24, v) }

// StatSN returns bytes 24..27 of a target PDU.
func (h *BHS) StatSN() uint32 { return h.Field32(24) }

// SetStatSN sets bytes 24..27 of a target PDU.
func (h *BHS) SetStatSN(v uint32) { h.SetField32(24, v) }

// ExpStatSN returns bytes 28..31 of an initiator PDU.
func (h *BHS) ExpStatSN() uint32 { return h.Field32(28) }

// SetExpStatSN sets bytes 28..31 of an initiator PDU.
func (h *BHS) SetExpStatSN(v uint32) { h.SetField32(28, v) }

// ExpCmdSN returns bytes 28..31 of a target PDU.
func (h *BHS) ExpCmdSN() uint32 { return h.Field32(28) }

// SetExpCmdSN sets bytes 28..31 of a target PDU.
func (h *BHS) SetExpCmdSN(v uint32) { h.SetField32(28, v) }

// MaxCmdSN returns bytes 32..35 of a target PDU.
func (h *BHS) MaxCmdSN() uint32 { return h.Field32(32) }

// SetMaxCmdSN sets bytes 32..35 of a target PDU.
func (h *BHS) SetMaxCmdSN(v uint32) { h.SetField32(32, v) }

// RefCmdSN returns bytes 32..35 of a Task Management Function Request: the CmdSN of
// the referenced task, or the CmdSN of the TMF itself for a task set function.
func (h *BHS) RefCmdSN() uint32 { return h.Field32(32) }

// SetRefCmdSN sets bytes 32..35 of a Task Management Function Request.
func (h *BHS) SetRefCmdSN(v uint32) { h.SetField32(32, v) }

// DataSN returns bytes 36..39 of a Data-In or Data-Out PDU.
func (h *BHS) DataSN() uint32 { return h.Field32(36) }

// SetDataSN sets bytes 36..39 of a Data-In or Data-Out PDU.
func (h *BHS) SetDataSN(v uint32) { h.SetField32(36, v) }

// R2TSN returns bytes 36..39 of an R2T.
func (h *BHS) R2TSN() uint32 { return h.Field32(36) }

// SetR2TSN sets bytes 36..39 of an R2T.
func (h *BHS) SetR2TSN(v uint32) { h.SetField32(36, v) }

// ExpDataSN returns bytes 36..39 of a SCSI Response (the Data-In count) or a Task
// Management Function Request (for task reassignment).
func (h *BHS) ExpDataSN() uint32 { return h.Field32(36) }

// SetExpDataSN sets bytes 36..39 of a SCSI Response or Task Management Function Request.
func (h *BHS) SetExpDataSN(v uint32) { h.SetField32(36, v) }

// BufferOffset returns bytes 40..43 of a Data-In, Data-Out or R2T.
func (h *BHS) BufferOffset() uint32 { return h.Field32(40) }

// SetBufferOffset sets bytes 40..43 of a Data-In, Data-Out or R2T.
func (h *BHS) SetBufferOffset(v uint32) { h.SetField32(40, v) }

// BidiReadResidualCount returns bytes 40..43 of a SCSI Response: the residual of
// the read half of a bidirectional command.
func (h *BHS) BidiReadResidualCount() uint32 { return h.Field32(40) }

// SetBidiReadResidualCount sets bytes 40..43 of a SCSI Response.
func (h *BHS) SetBidiReadResidualCount(v uint32) { h.SetField32(40, v) }

// ResidualCount returns bytes 44..47 of a SCSI Response or Data-In.
func (h *BHS) ResidualCount() uint32 { return h.Field32(44) }

// SetResidualCount sets bytes 44..47 of a SCSI Response or Data-In.
func (h *BHS) SetResidualCount(v uint32) { h.SetField32(44, v) }

// DesiredDataTransferLength returns bytes 44..47 of an R2T.
func (h *BHS) DesiredDataTransferLength() uint32 { return h.Field32(44) }

// SetDesiredDataTransferLength sets bytes 44..47 of an R2T.
func (h *BHS) SetDesiredDataTransferLength(v uint32) { h.SetField32(44, v) }
