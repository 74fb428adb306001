package iscsi

// Reject reasons (RFC 7143 section 11.17.1), carried in byte 2 of a Reject PDU.
const (
	RejectDataDigest          = 0x02
	RejectSNACK               = 0x03
	RejectProtocolError       = 0x04
	RejectCommandNotSupported = 0x05
	RejectImmediateCommand    = 0x06
	RejectTaskInProgress      = 0x07
	RejectInvalidDataAck      = 0x08
	RejectInvalidPDUField     = 0x09
	RejectLongOp              = 0x0a
	RejectNegotiationReset    = 0x0b
	RejectWaitingForLogout    = 0x0c
)

// NewReject builds a Reject PDU for the header bad: F set, the reason in byte 2,
// ITT 0xffffffff, and a copy of the rejected BHS as the data segment so the initiator
// can tell which PDU it was (RFC 7143 section 11.17). StatSN, ExpCmdSN and MaxCmdSN are
// left for the connection's writer to fill in when it sends it.
func NewReject(reason uint8, bad *BHS) *PDU {
	p := &PDU{Data: make([]byte, BHSLength)}
	p.BHS.SetOpcode(OpReject)
	p.BHS.SetFinal(true)
	p.BHS.SetResponse(reason)
	p.BHS.SetITT(ReservedTag)
	if bad != nil {
		copy(p.Data, bad[:])
	}
	return p
}
