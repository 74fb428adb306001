package initiator

import (
	"syscall"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// Defaults used for zero Options fields; they match what libiscsi and open-iscsi offer.
const (
	DefaultMaxRecvDataSegmentLength = 262144
	DefaultMaxBurstLength           = 262144
	DefaultFirstBurstLength         = 65536
	DefaultMaxOutstandingR2T        = 1
	DefaultTimeout                  = 10 * time.Second
)

// Options describe the session to open. The zero value plus a name and a target is a
// normal session with no digests and immediate data.
type Options struct {
	InitiatorName string
	// TargetName is required for normal sessions and ignored for discovery ones.
	TargetName string
	// Discovery opens a discovery session (SessionType=Discovery).
	Discovery bool
	// ISID identifies the initiator port; sessions with the same name and ISID
	// reinstate each other.
	ISID [6]byte
	// HeaderDigest and DataDigest offer CRC32C only (else None only).
	HeaderDigest, DataDigest bool
	// MaxRecvDataSegmentLength, MaxBurstLength and FirstBurstLength: 0 uses the defaults.
	MaxRecvDataSegmentLength, MaxBurstLength, FirstBurstLength uint32
	// ImmediateData and InitialR2T: nil offers Yes and No respectively.
	ImmediateData, InitialR2T *bool
	// MaxOutstandingR2T: 0 offers 1.
	MaxOutstandingR2T uint32
	// Timeout bounds each operation (login, one command, a NOP); 0 uses 10s.
	Timeout time.Duration
	// ExtraKeys are appended to the operational login request, for tests of odd keys.
	ExtraKeys []iscsi.KV
	// Security runs a security stage (AuthMethod=None) before the operational one.
	Security bool
	// Chap, when set, runs a security stage with AuthMethod=CHAP (one-way, or mutual
	// when Chap.TargetSecret is set) before the operational one.
	Chap *Chap
	// LocalAddr, if set, is the local address the connection is made from ("IP" or
	// "IP:PORT"; port 0 or none picks one), e.g. "127.0.0.2" to reach a target on
	// 127.0.0.1 from another loopback address.
	LocalAddr string
	// Control, if set, is called on the socket before it connects (net.Dialer's
	// Control), e.g. to make loopback's segments and buffers those of a network.
	Control func(network, address string, c syscall.RawConn) error
	// IgnorePings stops the automatic answer to target NOP-In pings, so a test can
	// watch the target give up on a silent initiator.
	IgnorePings bool
	// TSIH, when not 0, logs in a connection of that session (RFC 7143 6.3.4: with
	// the CID of its connection, a connection reinstatement): the operational stage
	// offers only the connection's keys. Session.ReinstateConnection sets it.
	TSIH uint16
	// CID is the connection's CID (0 by default).
	CID uint16
	// CmdSN is the CmdSN of the login and the first command (0: 1). A connection of
	// an existing session carries the session's next CmdSN (RFC 7143 11.12.8).
	CmdSN uint32
}

// Bool returns a pointer to v, for the *bool options.
func Bool(v bool) *bool { return &v }

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.MaxRecvDataSegmentLength == 0 {
		o.MaxRecvDataSegmentLength = DefaultMaxRecvDataSegmentLength
	}
	if o.MaxBurstLength == 0 {
		o.MaxBurstLength = DefaultMaxBurstLength
	}
	if o.FirstBurstLength == 0 {
		o.FirstBurstLength = min(DefaultFirstBurstLength, o.MaxBurstLength)
	}
	if o.MaxOutstandingR2T == 0 {
		o.MaxOutstandingR2T = DefaultMaxOutstandingR2T
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ImmediateData == nil {
		o.ImmediateData = Bool(true)
	}
	if o.InitialR2T == nil {
		o.InitialR2T = Bool(false)
	}
	return o
}
