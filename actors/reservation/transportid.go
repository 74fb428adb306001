package reservation

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// iSCSI TransportIDs (SPC-4 7.6.4.6): protocol identifier 5h, format 00b
// for an initiator device name alone, 01b for an initiator port name
// "iqn.…,i,0x<ISID>". Persistent reservations are held by I_T nexuses, so
// the port form is what READ FULL STATUS reports and what REGISTER AND MOVE
// accepts.

const (
	protocolISCSI   = 0x5
	tidFormatPort   = 0x1 << 6
	iscsiSeparator  = ",i,0x"
	maxISCSINameLen = 223 // RFC 7143 6.1: iSCSI names are at most 223 bytes
)

// encodeTransportID builds the iSCSI TransportID of a nexus ID: the port
// form when it has the ",i,0x" separator, the device form otherwise. The
// name is NUL-terminated and padded to a multiple of 4, at least 20 bytes.
func encodeTransportID(id string) []byte {
	b0 := byte(protocolISCSI)
	if strings.Contains(id, iscsiSeparator) {
		b0 |= tidFormatPort
	}
	n := len(id) + 1
	n = (n + 3) &^ 3
	if n < 20 {
		n = 20
	}
	if n > 0xFFFF-3 {
		n = 0xFFFF - 3
	}
	b := make([]byte, 4+n)
	b[0] = b0
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	copy(b[4:4+n-1], id)
	return b
}

// parseTransportID decodes an iSCSI initiator port TransportID into the
// nexus ID form the connection builds ("name,i,0x" + 12 lowercase hex
// digits). It returns false for anything else; tid comes from the
// initiator and is fully checked.
func parseTransportID(tid []byte) (string, bool) {
	if len(tid) < 24 || tid[0]&0x0F != protocolISCSI || tid[0]&0xC0 != tidFormatPort {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(tid[2:4]))
	if n < 20 || 4+n > len(tid) {
		return "", false
	}
	s := string(tid[4 : 4+n])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	} else {
		return "", false // the name must be NUL-terminated
	}
	name, isid, ok := strings.Cut(s, iscsiSeparator)
	if !ok || name == "" || len(name) > maxISCSINameLen || len(isid) != 12 {
		return "", false
	}
	if _, err := hex.DecodeString(isid); err != nil {
		return "", false
	}
	return name + iscsiSeparator + strings.ToLower(isid), true
}
