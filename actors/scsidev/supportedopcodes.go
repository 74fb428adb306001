package scsidev

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// Reporting options of REPORT SUPPORTED OPERATION CODES (SPC-4 6.35.1).
const (
	rsocAll             = 0 // every command
	rsocOpcode          = 1 // one opcode without service actions
	rsocServiceAction   = 2 // one opcode and service action
	rsocOpcodeOrService = 3 // one opcode, with service action if it has them
)

// recommendedTimeout is the RECOMMENDED COMMAND TIMEOUT in seconds of the
// command timeouts descriptor: the same for every command, which the target
// answers or fails well within it.
const recommendedTimeout = 30

// supports reports whether this LU implements op (with service action sa,
// for opcodes that have them); it is the Commands table adjusted for this
// LU's provisioning, so the report never claims what Execute refuses.
func (d *Device) supports(op byte, sa uint16) bool {
	if !scsi.Commands[op].Supported {
		return false
	}
	if op == scsi.OpUnmap && !d.cfg.Thin {
		return false
	}
	if op == scsi.OpSanitize {
		return d.sanitizeAllowed(sa)
	}
	if op == scsi.OpMaintenanceIn && sa == scsi.SAReportTargetPortGroups && !d.alua() {
		return false
	}
	if sas, ok := scsi.ServiceActions[op]; ok {
		for _, s := range sas {
			if s == sa {
				return true
			}
		}
		return false
	}
	return true
}

// timeoutsDescriptor is the command timeouts descriptor (SPC-4 6.35.4).
func timeoutsDescriptor() []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:2], 0x0A)
	binary.BigEndian.PutUint32(b[8:12], recommendedTimeout)
	return b
}

// reportSupportedOpcodes implements REPORT SUPPORTED OPERATION CODES (SPC-4
// 6.35), generated from the scsi.Commands table and the CDB usage masks.
func (d *Device) reportSupportedOpcodes(cdb []byte) (Result, error) {
	rctd := cdb[2]&0x80 != 0
	opt := cdb[2] & 0x07
	op := cdb[3]
	sa := binary.BigEndian.Uint16(cdb[4:6])
	alloc := binary.BigEndian.Uint32(cdb[6:10])
	_, hasSA := scsi.ServiceActions[op]
	switch opt {
	case rsocAll:
		return good(truncate(d.allCommands(rctd), alloc)), nil
	case rsocOpcode:
		if hasSA {
			return Result{}, scsi.InvalidFieldInCDB(3, -1)
		}
	case rsocServiceAction:
		if !hasSA {
			return Result{}, scsi.InvalidFieldInCDB(3, -1)
		}
	case rsocOpcodeOrService:
	default:
		return Result{}, scsi.InvalidFieldInCDB(2, 2)
	}
	return good(truncate(d.oneCommand(op, sa, rctd), alloc)), nil
}

// allCommands is the all_commands parameter data: one descriptor per
// supported opcode, or per service action of opcodes that have them.
func (d *Device) allCommands(rctd bool) []byte {
	b := make([]byte, 4, 1024)
	add := func(op byte, sa uint16, servactv bool) {
		u, ok := scsi.CDBUsage(op, sa)
		if !ok {
			return
		}
		var desc [8]byte
		desc[0] = op
		binary.BigEndian.PutUint16(desc[2:4], sa)
		if servactv {
			desc[5] |= 0x01
		}
		if rctd {
			desc[5] |= 0x02
		}
		binary.BigEndian.PutUint16(desc[6:8], uint16(len(u)))
		b = append(b, desc[:]...)
		if rctd {
			b = append(b, timeoutsDescriptor()...)
		}
	}
	for i := 0; i < 256; i++ {
		op := byte(i)
		if sas, ok := scsi.ServiceActions[op]; ok {
			for _, sa := range sas {
				if d.supports(op, sa) {
					add(op, sa, true)
				}
			}
			continue
		}
		if d.supports(op, 0) {
			add(op, 0, false)
		}
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)-4))
	return b
}

// oneCommand is the one_command parameter data for op (and sa): SUPPORT 011b
// with the CDB usage data, or 001b (not supported) with none.
func (d *Device) oneCommand(op byte, sa uint16, rctd bool) []byte {
	b := make([]byte, 4, 32)
	u, ok := scsi.CDBUsage(op, sa)
	if !ok || !d.supports(op, sa) {
		b[1] = 0x01
		return b
	}
	b[1] = 0x03
	if rctd {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(u)))
	b = append(b, u...)
	if rctd {
		b = append(b, timeoutsDescriptor()...)
	}
	return b
}

// Task management functions this target implements, as REPORT SUPPORTED
// TASK MANAGEMENT FUNCTIONS reports them (SPC-4 6.37): ABORT TASK, ABORT
// TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, QUERY TASK, TARGET RESET (byte 0)
// and QUERY TASK SET (byte 1), as actors/conn handles them.
const (
	tmfATS  = 0x80
	tmfATSS = 0x40
	tmfCTSS = 0x10
	tmfLURS = 0x08
	tmfQTS  = 0x04
	tmfTRS  = 0x02
	tmfQTSS = 0x02 // byte 1
)

// reportSupportedTMFs implements REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
// (SPC-4 6.37), with the extended 16-byte form when REPTD is set.
func (d *Device) reportSupportedTMFs(cdb []byte) (Result, error) {
	alloc := binary.BigEndian.Uint32(cdb[6:10])
	if alloc < 4 {
		// SPC-4: an allocation length under 4 is an error.
		return Result{}, scsi.InvalidFieldInCDB(6, -1)
	}
	b := make([]byte, 4)
	if cdb[2]&0x80 != 0 { // REPTD
		b = make([]byte, 16)
		b[3] = 0x0C // additional data length
	}
	b[0] = tmfATS | tmfATSS | tmfCTSS | tmfLURS | tmfQTS | tmfTRS
	b[1] = tmfQTSS
	return good(truncate(b, alloc)), nil
}
