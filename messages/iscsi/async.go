package iscsi

import "encoding/binary"

// AsyncEvent codes of an Asynchronous Message (RFC 7143 section 11.9.1), byte 36.
const (
	// AsyncSCSIEvent: a SCSI asynchronous event; the sense data is in the data segment.
	AsyncSCSIEvent = 0
	// AsyncLogoutRequest: the target asks for a logout within Parameter3 seconds.
	AsyncLogoutRequest = 1
	// AsyncDropConnection: the target will drop connection Parameter1.
	AsyncDropConnection = 2
	// AsyncDropAllConnections: the target will drop every connection of the session.
	AsyncDropAllConnections = 3
	// AsyncRenegotiate: the target asks for a new parameter negotiation.
	AsyncRenegotiate = 4
	// AsyncVendorSpecific: a vendor event; AsyncVCode says which.
	AsyncVendorSpecific = 255
)

// AsyncEvent returns byte 36 of an Asynchronous Message.
func (h *BHS) AsyncEvent() uint8 { return h[36] }

// SetAsyncEvent sets byte 36 of an Asynchronous Message.
func (h *BHS) SetAsyncEvent(e uint8) { h[36] = e }

// AsyncVCode returns byte 37 of an Asynchronous Message, the vendor code.
func (h *BHS) AsyncVCode() uint8 { return h[37] }

// SetAsyncVCode sets byte 37 of an Asynchronous Message.
func (h *BHS) SetAsyncVCode(c uint8) { h[37] = c }

// AsyncParameters returns Parameter1..3 (bytes 38..43) of an Asynchronous Message;
// their meaning depends on the event (CID, Time2Wait, Time2Retain, Time2Logout).
func (h *BHS) AsyncParameters() (p1, p2, p3 uint16) {
	return binary.BigEndian.Uint16(h[38:]), binary.BigEndian.Uint16(h[40:]), binary.BigEndian.Uint16(h[42:])
}

// SetAsyncParameters sets Parameter1..3 of an Asynchronous Message.
func (h *BHS) SetAsyncParameters(p1, p2, p3 uint16) {
	binary.BigEndian.PutUint16(h[38:], p1)
	binary.BigEndian.PutUint16(h[40:], p2)
	binary.BigEndian.PutUint16(h[42:], p3)
}
