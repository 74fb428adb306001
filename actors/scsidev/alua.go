package scsidev

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// AccessState is a target port group's asymmetric access state (SPC-4 5.11.2.4),
// as REPORT TARGET PORT GROUPS codes it.
type AccessState byte

// The asymmetric access states this target enters: a group through which the
// logical unit is served best, one through which it is served but slower (on
// RBD, each write there first moves the image's exclusive lock to that node), and
// one through which it is not served at all for now (a gateway cut off from the
// cluster, fenced, or unsure of the reservations: the LUN's owner sets it).
const (
	ActiveOptimized    AccessState = 0x0
	ActiveNonOptimized AccessState = 0x1
	Unavailable        AccessState = 0x3
)

// REPORT TARGET PORT GROUPS parameter data (SPC-4 6.36.2).
const (
	rtpgFormatLength   = 0    // PARAMETER DATA FORMAT 000b: length-only header
	rtpgFormatExtended = 1    // 001b: extended header with the implicit transition time
	rtpgHeaderLen      = 4    // length-only header
	rtpgExtHeaderLen   = 8    // extended header
	rtpgExtFormatType  = 0x10 // FORMAT TYPE 001b in byte 4 of the extended header
	rtpgDescLen        = 8    // target port group descriptor without its ports
	rtpgPortLen        = 4    // target port descriptor
	// Supported states of each group: active/optimized (AO_SUP),
	// active/non-optimized (AN_SUP) and unavailable (U_SUP).
	rtpgSupported = 0x01 | 0x02 | 0x08
	// STATUS CODE: the state was altered by implicit ALUA behaviour.
	rtpgStatusImplicit = 0x02
	// TPGS 01b in byte 5 of standard INQUIRY data: implicit ALUA only; SET TARGET
	// PORT GROUPS (explicit transitions) is not supported.
	inquiryTPGSImplicit = 0x10
)

// alua reports whether the logical unit has ALUA target port groups.
func (d *Device) alua() bool { return len(d.cfg.PortGroups) > 0 }

// groupState is the current state of port group id, and whether an implicit
// transition set it.
type groupState struct {
	state   AccessState
	altered bool
}

// SetPortGroupState sets the asymmetric access state of target port group id, as
// the LUN's ALUA model decides (implicit transitions). A change establishes the unit
// attention ASYMMETRIC ACCESS STATE CHANGED for every nexus (SPC-4 5.11.2.7) and
// reports true; an unknown group or the same state changes nothing.
func (d *Device) SetPortGroupState(id uint16, s AccessState) bool {
	cur, ok := d.groups[id]
	if !ok || cur.state == s {
		return false
	}
	d.groups[id] = groupState{state: s, altered: true}
	d.AddUnitAttention("", scsi.AsymmetricAccessStateChanged())
	return true
}

// RunsWhenUnavailable reports the commands a device server runs through a target
// port in the unavailable state (SPC-4 5.11.2.4.5): INQUIRY, REPORT LUNS, REQUEST
// SENSE, and of MAINTENANCE IN the reports REPORT TARGET PORT GROUPS, REPORT
// SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS. None
// touches the medium or the reservations. The LUN's owner refuses the others
// before they reach the device model too.
func RunsWhenUnavailable(cdb []byte) bool {
	switch cdb[0] {
	case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense:
		return true
	case scsi.OpMaintenanceIn:
		if len(cdb) < 2 {
			return false
		}
		switch cdb[1] & 0x1F {
		case scsi.SAReportTargetPortGroups, scsi.SAReportSupportedOpcodes, scsi.SAReportSupportedTMFs:
			return true
		}
	}
	return false
}

// unavailable returns TARGET PORT IN UNAVAILABLE STATE for a command that does
// not run while this port's group is unavailable, nil otherwise.
func (d *Device) unavailable(cdb []byte) *scsi.SenseError {
	if !d.alua() || d.groups[d.cfg.TargetPortGroup].state != Unavailable || RunsWhenUnavailable(cdb) {
		return nil
	}
	return scsi.NotReadyUnavailable()
}

// initGroups starts every configured group active/optimized: a backend with no
// notion of an owner serves IO equally through every node.
func (d *Device) initGroups() {
	d.groups = make(map[uint16]groupState, len(d.cfg.PortGroups))
	for _, id := range d.cfg.PortGroups {
		d.groups[id] = groupState{state: ActiveOptimized}
	}
}

// reportTargetPortGroups implements REPORT TARGET PORT GROUPS (SPC-4 6.36): one
// descriptor per target port group of the target, every node's, each with its one
// target port, whose relative target port identifier is the group's id.
func (d *Device) reportTargetPortGroups(cdb []byte) (Result, error) {
	format := cdb[1] >> 5
	alloc := binary.BigEndian.Uint32(cdb[6:10])
	var b []byte
	switch format {
	case rtpgFormatLength:
		b = make([]byte, rtpgHeaderLen, 64)
	case rtpgFormatExtended:
		b = make([]byte, rtpgExtHeaderLen, 64)
		b[4] = rtpgExtFormatType
		b[5] = d.cfg.ImplicitTransitionSeconds
	default:
		return Result{}, scsi.InvalidFieldInCDB(1, 7)
	}
	for _, id := range d.cfg.PortGroups {
		g := d.groups[id]
		var desc [rtpgDescLen + rtpgPortLen]byte
		desc[0] = byte(g.state) & 0x0F
		desc[1] = rtpgSupported
		binary.BigEndian.PutUint16(desc[2:4], id)
		if g.altered {
			desc[5] = rtpgStatusImplicit
		}
		desc[7] = 1 // target port count
		binary.BigEndian.PutUint16(desc[rtpgDescLen+2:], id)
		b = append(b, desc[:]...)
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)-4))
	return good(truncate(b, alloc)), nil
}

// InitPortGroupState sets a group's first state, before the device has served
// anything (a LUN's start): not a transition, so its STATUS CODE stays 00h and no
// unit attention is established.
func (d *Device) InitPortGroupState(id uint16, s AccessState) {
	if cur, ok := d.groups[id]; ok {
		d.groups[id] = groupState{state: s, altered: cur.altered}
	}
}
