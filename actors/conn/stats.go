package conn

import (
	"sync/atomic"

	"github.com/atgt/atgt/messages/iscsi"
)

// Stats are a connection's figures for the admin API's session list. The connection
// actor writes them (a few atomic adds per turn, no lock); anyone may read them.
type Stats struct {
	// TasksInFlight is the SCSI commands received and not yet answered, as of the end
	// of the connection's last turn.
	TasksInFlight atomic.Int64
	// PeakTasks is the most tasks in flight at the end of a turn since the admin API
	// last took it (Swap(0)): at the instant of its call TasksInFlight reads 0 on a
	// busy session whose initiator is slower than the target.
	PeakTasks atomic.Int64
	// BytesIn is the write data received (immediate, unsolicited and Data-Out);
	// BytesOut the read data sent (Data-In).
	BytesIn, BytesOut atomic.Uint64
	// SendSegment is the initiator's MaxRecvDataSegmentLength in force on the
	// connection: the one it declared at login, or later in a Text Request (RFC 7143
	// 13.12). The command phase keeps the value here and nowhere else
	// (cmdphase.Config.SendSegment); 0 until the login completes.
	SendSegment atomic.Uint32
}

// countIn counts the write data of an incoming PDU.
func (s *Stats) countIn(p *iscsi.PDU) {
	if s == nil {
		return
	}
	if op := p.BHS.Opcode(); (op == iscsi.OpSCSICmd || op == iscsi.OpDataOut) && len(p.Data) > 0 {
		s.BytesIn.Add(uint64(len(p.Data)))
	}
}

// countOut counts the read data of a batch of outgoing PDUs.
func (s *Stats) countOut(pdus []*iscsi.PDU) {
	if s == nil {
		return
	}
	var n uint64
	for _, p := range pdus {
		if p.BHS.Opcode() == iscsi.OpDataIn {
			n += uint64(len(p.Data))
		}
	}
	if n > 0 {
		s.BytesOut.Add(n)
	}
}
