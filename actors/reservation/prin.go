package reservation

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// PERSISTENT RESERVE IN service actions (SPC-4 6.16.1).
const (
	SAReadKeys            = 0x00
	SAReadReservation     = 0x01
	SAReportCapabilities  = 0x02
	SAReadFullStatus      = 0x03
	allowCommandsReported = 0x2 // ALLOW COMMANDS 010b, see check.go
)

// persistentReserveIn answers PERSISTENT RESERVE IN; the CDB is 10 bytes.
func (t *Table) persistentReserveIn(cdb []byte) Outcome {
	alloc := int(binary.BigEndian.Uint16(cdb[7:9]))
	var data []byte
	switch cdb[1] & 0x1F {
	case SAReadKeys:
		data = t.readKeys()
	case SAReadReservation:
		data = t.readReservation()
	case SAReportCapabilities:
		data = t.reportCapabilities()
	case SAReadFullStatus:
		data = t.readFullStatus()
	default:
		return checkCondition(scsi.InvalidFieldInCDB(1, 4))
	}
	if len(data) > alloc {
		data = data[:alloc]
	}
	return good(data)
}

// header is PRgeneration and ADDITIONAL LENGTH, the first 8 bytes of
// every PERSISTENT RESERVE IN answer but REPORT CAPABILITIES. The
// additional length is the full length, whatever the allocation length.
func (t *Table) header(additional int) []byte {
	b := make([]byte, 8, 8+additional)
	binary.BigEndian.PutUint32(b[0:4], t.generation)
	binary.BigEndian.PutUint32(b[4:8], uint32(additional))
	return b
}

// readKeys lists the reservation key of every registration (6.16.2).
func (t *Table) readKeys() []byte {
	b := t.header(8 * len(t.regs))
	for _, r := range t.regs {
		b = binary.BigEndian.AppendUint64(b, r.key)
	}
	return b
}

// readReservation describes the persistent reservation, if any (6.16.3).
func (t *Table) readReservation() []byte {
	if t.res == nil {
		return t.header(0)
	}
	b := t.header(16)
	b = binary.BigEndian.AppendUint64(b, t.holderKey())
	// Obsolete (4), reserved (1), SCOPE|TYPE, obsolete (2).
	b = append(b, 0, 0, 0, 0, 0, t.res.typ&0x0F, 0, 0)
	return b
}

// reportCapabilities says what this device server implements (6.16.4):
// CRH (RESERVE/RELEASE handled as SPC-4 5.13.3 says), ATP_C, PTPL_C, TMV
// with every type, and ALLOW COMMANDS 010b; no SPEC_I_PT (SIP_C = 0).
func (t *Table) reportCapabilities() []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:2], 8)
	b[2] = 0x10 | 0x04 | 0x01 // CRH, ATP_C, PTPL_C
	b[3] = 0x80 | allowCommandsReported<<4
	if t.aptpl {
		b[3] |= 0x01 // PTPL_A
	}
	// PERSISTENT RESERVATION TYPE MASK: WR_EX_AR, EX_AC_RO, WR_EX_RO,
	// EX_AC, WR_EX in byte 4; EX_AC_AR in byte 5.
	b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02
	b[5] = 0x01
	return b
}

// readFullStatus describes every registration with its TransportID
// (6.16.5).
func (t *Table) readFullStatus() []byte {
	var body []byte
	for _, r := range t.regs {
		tid := encodeTransportID(rawID(r.nexus))
		body = binary.BigEndian.AppendUint64(body, r.key)
		body = append(body, 0, 0, 0, 0)
		var flags, scopeType byte
		if r.allTG {
			flags |= 0x02
		}
		if t.holder(r.nexus) {
			flags |= 0x01
			scopeType = t.res.typ & 0x0F
		}
		body = append(body, flags, scopeType, 0, 0, 0, 0)
		body = binary.BigEndian.AppendUint16(body, r.rtp)
		body = binary.BigEndian.AppendUint32(body, uint32(len(tid)))
		body = append(body, tid...)
	}
	return append(t.header(len(body)), body...)
}
