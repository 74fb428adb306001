package reservation

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
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

// NexusID names the I_T nexus of an iSCSI initiator port the one way every
// part of atgt does: "<iSCSI name>,i,0x<ISID>", the name in lower case
// (iSCSI names are case-insensitive: RFC 3722's stringprep folds case) and
// the ISID as 12 lower-case hex digits. The connection names its nexus with
// it, a TransportID is decoded to it, and the names in saved state are
// brought to it (canonicalID), so one initiator port always matches itself
// however an initiator spells its name.
func NexusID(name string, isid [6]byte) string {
	return fmt.Sprintf("%s%s%x", strings.ToLower(name), iscsiSeparator, isid)
}

// canonicalID brings a nexus ID read from saved state (or an initiator
// device name) to NexusID's form.
func canonicalID(id string) string {
	name, isid, ok := strings.Cut(id, iscsiSeparator)
	if !ok {
		return strings.ToLower(id)
	}
	return strings.ToLower(name) + iscsiSeparator + strings.ToLower(isid)
}

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
// nexus ID form the connection builds (NexusID). It returns false for anything else; tid comes from the
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
	return strings.ToLower(name) + iscsiSeparator + strings.ToLower(isid), true
}
