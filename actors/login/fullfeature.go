package login

// FullFeatureKey answers one key of a Text Request in the full feature phase, other
// than SendTargets, which the caller answers. declared is the target's own
// MaxRecvDataSegmentLength (Params.MaxXmitDataSegmentLength). It returns the answer
// ("" for none) and, for a well-formed MaxRecvDataSegmentLength, the initiator's new
// value (0 otherwise), which the caller applies once the negotiation sequence is over
// (RFC 7143 6.4: parameters negotiated in a text exchange take effect only after it
// completes).
//
// RFC 7143 section 13 gives each key a "Use":
//   - MaxRecvDataSegmentLength (13.12) and InitiatorAlias (13.6) are "ALL" and
//     declarative: the initiator may declare them again after login. A new
//     MaxRecvDataSegmentLength (512 to 2^24-1) is answered, as in the login, with the
//     target's own declaration; a malformed or out-of-range one gets Reject and the
//     current value stays (6.2: after Reject "the negotiated key is left at its
//     current value"). InitiatorAlias needs no answer (13: declarative keys require
//     none), and changes nothing here.
//   - The keys only a target sends (TargetAlias, TargetAddress, TargetPortalGroupTag)
//     get Irrelevant, as in the login.
//   - The other keys of RFC 7143 are "LO" or "IO" (negotiated at login only) or
//     belong to the security stage: they are understood, so NotUnderstood would be
//     untrue (6.2: keys of this document used as specified must not get it), and they
//     keep their login values, which is what Reject says (6.2). (LIO instead rejects
//     the whole Text Request, Reject PDU, when it is not a SendTargets; answering per
//     key lets a request that mixes keys still redeclare MaxRecvDataSegmentLength.)
//   - Anything else (X- and X# keys, keys of later RFCs this target does not
//     implement, such as iSCSIProtocolLevel) is NotUnderstood, as in the login.
func FullFeatureKey(key, value string, declared uint32) (answer string, maxRecv uint32) {
	switch classify(key) {
	case classUnknown:
		return valNotUnderstood, 0
	case classTargetOnly:
		return valIrrelevant, 0
	}
	switch key {
	case keyMaxRecvDSL:
		x, ok := parseRange(value, 512, 16777215)
		if !ok {
			return valReject, 0
		}
		return formatNumber(declared), x
	case keyInitiatorAlias:
		return "", 0
	}
	return valReject, 0
}
