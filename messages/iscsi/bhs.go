package iscsi

import "encoding/binary"

// BHSLength is the size of the Basic Header Segment (RFC 7143 section 11.2.1).
const BHSLength = 48

// BHS is the 48-byte Basic Header Segment, encoded in place: the accessors read and
// write the wire bytes directly, so a received header needs no decoding step and a
// built one needs no encoding step.
type BHS [BHSLength]byte

// Bits of byte 0 and byte 1.
const (
	immediateBit = 0x40
	opcodeMask   = 0x3f
	// FlagFinal is the F bit of byte 1, shared by most PDU types.
	FlagFinal = 0x80
)

// Opcode returns the PDU type (low 6 bits of byte 0).
func (h *BHS) Opcode() Opcode { return Opcode(h[0] & opcodeMask) }

// SetOpcode sets the PDU type, keeping the I bit.
func (h *BHS) SetOpcode(o Opcode) { h[0] = h[0]&^opcodeMask | byte(o)&opcodeMask }

// Immediate reports the I bit: the command is delivered outside CmdSN ordering.
func (h *BHS) Immediate() bool { return h[0]&immediateBit != 0 }

// SetImmediate sets or clears the I bit.
func (h *BHS) SetImmediate(v bool) {
	if v {
		h[0] |= immediateBit
	} else {
		h[0] &^= immediateBit
	}
}

// Flags returns byte 1 whole; its meaning (F, R, W, ATTR, T, C, CSG, NSG...) depends on the opcode.
func (h *BHS) Flags() uint8 { return h[1] }

// SetFlags sets byte 1 whole.
func (h *BHS) SetFlags(f uint8) { h[1] = f }

// Final reports the F bit (0x80 of byte 1); for Login PDUs this bit is T (transit).
func (h *BHS) Final() bool { return h[1]&FlagFinal != 0 }

// SetFinal sets or clears the F bit.
func (h *BHS) SetFinal(v bool) {
	if v {
		h[1] |= FlagFinal
	} else {
		h[1] &^= FlagFinal
	}
}

// Response returns byte 2 (response code, reject reason, login status class...).
func (h *BHS) Response() uint8 { return h[2] }

// SetResponse sets byte 2.
func (h *BHS) SetResponse(v uint8) { h[2] = v }

// Status returns byte 3 (SCSI status, login status detail...).
func (h *BHS) Status() uint8 { return h[3] }

// SetStatus sets byte 3.
func (h *BHS) SetStatus(v uint8) { h[3] = v }

// TotalAHSLength returns the AHS length in bytes (byte 4 counts 4-byte words).
func (h *BHS) TotalAHSLength() int { return int(h[4]) * 4 }

// SetTotalAHSLength sets byte 4 from a length in bytes, rounded up to words and capped at 1020.
func (h *BHS) SetTotalAHSLength(n int) {
	w := (n + 3) / 4
	if w < 0 {
		w = 0
	}
	if w > 255 {
		w = 255
	}
	h[4] = byte(w)
}

// MaxDataSegmentLength is the largest length the 24-bit DataSegmentLength field holds.
const MaxDataSegmentLength = 1<<24 - 1

// DataSegmentLength returns the unpadded data segment length (bytes 5..7).
func (h *BHS) DataSegmentLength() uint32 {
	return uint32(h[5])<<16 | uint32(h[6])<<8 | uint32(h[7])
}

// SetDataSegmentLength sets bytes 5..7; only the low 24 bits are kept.
func (h *BHS) SetDataSegmentLength(n uint32) {
	h[5], h[6], h[7] = byte(n>>16), byte(n>>8), byte(n)
}

// LUN returns bytes 8..15 as a raw big-endian number; the SAM LUN encoding is left to the caller.
func (h *BHS) LUN() uint64 { return binary.BigEndian.Uint64(h[8:16]) }

// SetLUN sets bytes 8..15.
func (h *BHS) SetLUN(v uint64) { binary.BigEndian.PutUint64(h[8:16], v) }

// ReservedTag is the tag value no task may carry (RFC 7143 11.2.1.8): an ITT of a
// NOP-In ping or a NOP-Out answering one, a TTT of unsolicited Data-Out or of a
// NOP-In that wants no answer.
const ReservedTag = 0xffffffff

// ITT returns the Initiator Task Tag (bytes 16..19).
func (h *BHS) ITT() uint32 { return h.Field32(16) }

// SetITT sets the Initiator Task Tag.
func (h *BHS) SetITT(v uint32) { h.SetField32(16, v) }

// Field32 reads the big-endian 32-bit field at off; an offset outside the BHS reads 0,
// so a wrong constant is a wrong value rather than a crash.
func (h *BHS) Field32(off int) uint32 {
	if off < 0 || off > BHSLength-4 {
		return 0
	}
	return binary.BigEndian.Uint32(h[off:])
}

// SetField32 writes the big-endian 32-bit field at off; an offset outside the BHS is ignored.
func (h *BHS) SetField32(off int, v uint32) {
	if off < 0 || off > BHSLength-4 {
		return
	}
	binary.BigEndian.PutUint32(h[off:], v)
}

// Field16 reads the big-endian 16-bit field at off; an offset outside the BHS reads 0.
func (h *BHS) Field16(off int) uint16 {
	if off < 0 || off > BHSLength-2 {
		return 0
	}
	return binary.BigEndian.Uint16(h[off:])
}

// SetField16 writes the big-endian 16-bit field at off; an offset outside the BHS is ignored.
func (h *BHS) SetField16(off int, v uint16) {
	if off < 0 || off > BHSLength-2 {
		return
	}
	binary.BigEndian.PutUint16(h[off:], v)
}

// CDB returns the 16-byte CDB area of a SCSI Command (bytes 32..47), aliasing the header.
func (h *BHS) CDB() []byte { return h[32:48] }

// Reset zeroes the header so a reused BHS carries nothing from its last PDU.
func (h *BHS) Reset() { *h = BHS{} }
