package scsi

// DecodeLUN turns the 8-byte LUN field into a LUN number, for peripheral (method 00b)
// and flat (01b) addressing of the first level (SAM-5 4.7). ok is false for other
// forms, which no configured LUN can match.
func DecodeLUN(raw uint64) (lun uint64, ok bool) {
	b0 := byte(raw >> 56)
	b1 := byte(raw >> 48)
	if raw&0x0000ffffffffffff != 0 {
		return 0, false
	}
	switch b0 >> 6 {
	case 0:
		if b0&0x3f != 0 {
			return 0, false
		}
		return uint64(b1), true
	case 1:
		return uint64(b0&0x3f)<<8 | uint64(b1), true
	}
	return 0, false
}
