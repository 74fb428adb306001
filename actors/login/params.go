package login

// Params are the negotiated operational parameters of a session/connection, with the
// RFC defaults for keys not negotiated, so the session and connection never re-derive them.
type Params struct {
	HeaderDigest, DataDigest             bool
	MaxConnections                       uint32
	InitialR2T, ImmediateData            bool
	MaxRecvDataSegmentLength             uint32 // what the TARGET may send in one PDU (declared by the initiator)
	MaxXmitDataSegmentLength             uint32 // what the INITIATOR may send (the target's declared MaxRecvDataSegmentLength)
	MaxBurstLength, FirstBurstLength     uint32
	DefaultTime2Wait, DefaultTime2Retain uint32
	MaxOutstandingR2T                    uint32
	DataPDUInOrder, DataSequenceInOrder  bool
	ErrorRecoveryLevel                   uint32
}

// DefaultParams are the RFC 7143 section 13 defaults, the values in force for any key
// the two sides do not negotiate.
func DefaultParams() Params {
	return Params{
		MaxConnections:           1,
		InitialR2T:               true,
		ImmediateData:            true,
		MaxRecvDataSegmentLength: 8192,
		MaxXmitDataSegmentLength: 8192,
		MaxBurstLength:           262144,
		FirstBurstLength:         65536,
		DefaultTime2Wait:         2,
		DefaultTime2Retain:       20,
		MaxOutstandingR2T:        1,
		DataPDUInOrder:           true,
		DataSequenceInOrder:      true,
		ErrorRecoveryLevel:       0,
	}
}

// FirstBurstRelevant reports whether FirstBurstLength means anything: unsolicited data
// exists only with immediate data or without an initial R2T (RFC 7143 13.14).
func (p Params) FirstBurstRelevant() bool {
	return !p.InitialR2T || p.ImmediateData
}

// Continued is the parameters of a connection that reinstates one of a live session
// (RFC 7143 6.3.4): session holds the session's values, conn what this login
// negotiated. Only the keys a non-leading login negotiates are conn's:
// HeaderDigest and DataDigest (use IO) and the two sides' MaxRecvDataSegmentLength
// declarations (use ALL), RFC 7143 13.1, 13.12. Every Leading Only key stays the
// session's: RFC 7143 6.3 has them "carried only on the leading connection" and not
// "changed after the leading connection login", which "holds for a single
// connection session with regard to connection restart"; this login answered them
// Irrelevant (keys.go).
func Continued(conn, session Params) Params {
	p := session
	p.HeaderDigest, p.DataDigest = conn.HeaderDigest, conn.DataDigest
	p.MaxRecvDataSegmentLength = conn.MaxRecvDataSegmentLength
	p.MaxXmitDataSegmentLength = conn.MaxXmitDataSegmentLength
	return p
}
