package iscsi

import "net"

// maxAHSLength is the most AHS the one-byte TotalAHSLength field can describe.
const maxAHSLength = 255 * 4

// zeroPad supplies padding bytes; writers only read it.
var zeroPad [4]byte

// padLen returns the bytes needed to bring n to a multiple of 4.
func padLen(n int) int { return -n & 3 }

// AppendPDU appends p's wire form to bufs for one writev: BHS (p.BHS[:], not copied,
// so p must not change until the write is done), header digest, AHS, data, zero
// padding to 4 bytes, data digest. It first sets DataSegmentLength and TotalAHSLength
// in p.BHS from len(p.Data) and len(p.AHS). An AHS that is not a multiple of 4 is
// padded; an AHS over 1020 bytes or data over 2^24-1 bytes cannot be described by the
// header and is truncated, so the stream stays well formed even after a caller bug.
// Digest bytes are small allocated slices.
func AppendPDU(bufs net.Buffers, p *PDU, headerDigest, dataDigest bool) net.Buffers {
	ahs := p.AHS
	if len(ahs) > maxAHSLength {
		ahs = ahs[:maxAHSLength]
	}
	data := p.Data
	if len(data) > MaxDataSegmentLength {
		data = data[:MaxDataSegmentLength]
	}
	p.BHS.SetTotalAHSLength(len(ahs))
	p.BHS.SetDataSegmentLength(uint32(len(data)))
	ahsPad := zeroPad[:padLen(len(ahs))]
	dataPad := zeroPad[:padLen(len(data))]

	var digests []byte
	if headerDigest || (dataDigest && len(data) > 0) {
		digests = make([]byte, 2*DigestLength)
	}
	bufs = append(bufs, p.BHS[:])
	if len(ahs) > 0 {
		bufs = append(bufs, ahs)
		if len(ahsPad) > 0 {
			bufs = append(bufs, ahsPad)
		}
	}
	if headerDigest {
		putDigest(digests[:DigestLength], CRC32C(p.BHS[:], ahs, ahsPad))
		bufs = append(bufs, digests[:DigestLength:DigestLength])
	}
	if len(data) == 0 {
		return bufs // no data segment: no padding and no data digest (RFC 7143 11.2.4)
	}
	bufs = append(bufs, data)
	if len(dataPad) > 0 {
		bufs = append(bufs, dataPad)
	}
	if dataDigest {
		putDigest(digests[DigestLength:], CRC32C(data, dataPad))
		bufs = append(bufs, digests[DigestLength:])
	}
	return bufs
}

// MarshalPDU is AppendPDU flattened into one []byte (for tests and simple clients).
func MarshalPDU(p *PDU, headerDigest, dataDigest bool) []byte {
	bufs := AppendPDU(nil, p, headerDigest, dataDigest)
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	out := make([]byte, 0, n)
	for _, b := range bufs {
		out = append(out, b...)
	}
	return out
}
