package iscsi

import "encoding/binary"

// Fields of the Login and Logout PDUs (RFC 7143 sections 11.12-11.15): the session's
// identity (ISID, TSIH, CID), the protocol versions and the login stages.

// Transit reports T of a Login PDU: the sender wants to move to the stage in NSG.
func (h *BHS) Transit() bool { return h.flag(LoginFlagTransit) }

// SetTransit sets or clears T of a Login PDU.
func (h *BHS) SetTransit(v bool) { h.setFlag(LoginFlagTransit, v) }

// CSG returns the current stage of a Login PDU (a LoginStage... value).
func (h *BHS) CSG() uint8 { return (h[1] & LoginCSGMask) >> 2 }

// SetCSG sets the current stage of a Login PDU, keeping the other bits.
func (h *BHS) SetCSG(stage uint8) { h[1] = h[1]&^LoginCSGMask | stage<<2&LoginCSGMask }

// NSG returns the next stage of a Login PDU; the RFC reserves it when T is 0.
func (h *BHS) NSG() uint8 { return h[1] & LoginNSGMask }

// SetNSG sets the next stage of a Login PDU, keeping the other bits.
func (h *BHS) SetNSG(stage uint8) { h[1] = h[1]&^LoginNSGMask | stage&LoginNSGMask }

// VersionMax returns byte 2 of a Login Request or Response: the highest version the
// sender supports (0 for RFC 7143).
func (h *BHS) VersionMax() uint8 { return h[2] }

// SetVersionMax sets byte 2 of a Login Request or Response.
func (h *BHS) SetVersionMax(v uint8) { h[2] = v }

// VersionMin returns byte 3 of a Login Request: the lowest version the initiator
// supports.
func (h *BHS) VersionMin() uint8 { return h[3] }

// SetVersionMin sets byte 3 of a Login Request.
func (h *BHS) SetVersionMin(v uint8) { h[3] = v }

// VersionActive returns byte 3 of a Login Response: the version the target chose.
func (h *BHS) VersionActive() uint8 { return h[3] }

// SetVersionActive sets byte 3 of a Login Response.
func (h *BHS) SetVersionActive(v uint8) { h[3] = v }

// ISID returns the initiator part of the session identifier (bytes 8..13 of a Login
// PDU), which with the initiator name names the I_T nexus.
func (h *BHS) ISID() [6]byte { return [6]byte(h[8:14]) }

// SetISID sets bytes 8..13 of a Login PDU.
func (h *BHS) SetISID(v [6]byte) { copy(h[8:14], v[:]) }

// TSIH returns the target part of the session identifier (bytes 14..15 of a Login
// PDU); 0 in a request asks for a new session.
func (h *BHS) TSIH() uint16 { return binary.BigEndian.Uint16(h[14:16]) }

// SetTSIH sets bytes 14..15 of a Login PDU.
func (h *BHS) SetTSIH(v uint16) { binary.BigEndian.PutUint16(h[14:16], v) }

// CID returns the connection ID (bytes 20..21 of a Login or Logout Request).
func (h *BHS) CID() uint16 { return binary.BigEndian.Uint16(h[20:22]) }

// SetCID sets bytes 20..21 of a Login or Logout Request.
func (h *BHS) SetCID(v uint16) { binary.BigEndian.PutUint16(h[20:22], v) }

// Time2Wait returns bytes 40..41 of a Logout Response: seconds to wait before
// reconnecting to recover tasks.
func (h *BHS) Time2Wait() uint16 { return binary.BigEndian.Uint16(h[40:42]) }

// SetTime2Wait sets bytes 40..41 of a Logout Response.
func (h *BHS) SetTime2Wait(v uint16) { binary.BigEndian.PutUint16(h[40:42], v) }

// Time2Retain returns bytes 42..43 of a Logout Response: seconds the target keeps
// the connection's tasks for recovery.
func (h *BHS) Time2Retain() uint16 { return binary.BigEndian.Uint16(h[42:44]) }

// SetTime2Retain sets bytes 42..43 of a Logout Response.
func (h *BHS) SetTime2Retain(v uint16) { binary.BigEndian.PutUint16(h[42:44], v) }
