package scsi

// The 8-byte LUN field of SAM-5 section 4.7, as iSCSI carries it (bytes 8..15 of the
// BHS, big-endian, here as one uint64). atgt serves single-level LUNs 0..MaxLUN, so
// only the first level's peripheral (method 00b) and flat (01b) forms are encoded or
// accepted; the initiator, the target and REPORT LUNS share this one codec so they
// cannot disagree on which form a number takes.

// MaxLUN is the largest LUN a single-level flat address holds (14 bits).
const MaxLUN = 1<<14 - 1

// EncodeLUN returns the LUN field for lun: peripheral addressing below 256 (as
// initiators expect for small numbers), flat addressing up to MaxLUN. A value above
// MaxLUN has no single-level form and is returned unchanged, taken as an already
// encoded field, so tests can send any address they like.
func EncodeLUN(lun uint64) uint64 {
	switch {
	case lun < 256:
		return lun << 48
	case lun <= MaxLUN:
		return (0x4000 | lun) << 48
	}
	return lun
}

// DecodeLUN returns the LUN a field addresses. ok is false for every form but a
// single-level peripheral (bus 0) or flat address, which no configured LUN can match
// and which the target answers as an unsupported logical unit.
func DecodeLUN(raw uint64) (lun uint64, ok bool) {
	if raw&0x0000ffffffffffff != 0 {
		return 0, false // a second level, or garbage
	}
	b0, b1 := byte(raw>>56), byte(raw>>48)
	switch b0 >> 6 {
	case 0: // peripheral: bus identifier in the low 6 bits must be 0
		if b0&0x3f != 0 {
			return 0, false
		}
		return uint64(b1), true
	case 1: // flat
		return uint64(b0&0x3f)<<8 | uint64(b1), true
	}
	return 0, false // logical unit or extended addressing
}
