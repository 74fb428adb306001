package reservation

import "github.com/atgt/atgt/messages/scsi"

// access is how a command fares against a persistent reservation held by
// another I_T nexus.
type access uint8

const (
	// conflicts: RESERVATION CONFLICT for every non-member (writes,
	// MODE SENSE/SELECT, SYNCHRONIZE CACHE, and any opcode not listed).
	conflicts access = iota
	// allowed: never conflicts (INQUIRY, TEST UNIT READY, REPORT LUNS, …).
	allowed
	// readLike: allowed under Write Exclusive types, conflicts under
	// Exclusive Access types (READ, VERIFY, PRE-FETCH, GET LBA STATUS).
	readLike
)

// Opcodes and service actions missing from messages/scsi that the tables
// below need.
const (
	opServiceActionIn12     = 0xAB
	saReadMediaSerialNumber = 0x01
	saReportReferrals       = 0x13
)

// opAccess classifies opcodes whose class does not depend on other CDB
// fields; SPC-4 table 64 ("SPC commands that are allowed in the presence of
// various reservations") and SBC-3 table 13, with ALLOW COMMANDS 010b: the
// commands it names (MODE SENSE, READ BUFFER, RECEIVE DIAGNOSTIC RESULTS,
// REPORT SUPPORTED OPERATION CODES, READ DEFECT DATA, …) conflict even under
// Write Exclusive. Opcodes absent from the map conflict.
var opAccess = map[byte]access{
	scsi.OpTestUnitReady:        allowed,
	scsi.OpRequestSense:         allowed,
	scsi.OpInquiry:              allowed,
	scsi.OpReportLUNs:           allowed,
	scsi.OpLogSense:             allowed,
	scsi.OpReadCapacity10:       allowed,
	scsi.OpPersistentReserveIn:  allowed,
	scsi.OpPersistentReserveOut: allowed, // each service action decides (prout.go)
	scsi.OpAccessControlIn:      allowed,
	scsi.OpAccessControlOut:     allowed,

	scsi.OpRead6:      readLike,
	scsi.OpRead10:     readLike,
	scsi.OpRead12:     readLike,
	scsi.OpRead16:     readLike,
	scsi.OpVerify10:   readLike,
	scsi.OpVerify12:   readLike,
	scsi.OpVerify16:   readLike,
	scsi.OpPrefetch10: readLike,
	scsi.OpPrefetch16: readLike,
}

// classify returns the access class of cdb; cdb is not empty.
func classify(cdb []byte) access {
	op := cdb[0]
	switch op {
	case scsi.OpStartStopUnit:
		// Only START=1 with POWER CONDITION 0 is allowed (SBC-3).
		if len(cdb) > 4 && cdb[4]&0x01 != 0 && cdb[4]>>4 == 0 {
			return allowed
		}
		return conflicts
	case scsi.OpPreventAllowRemoval:
		// ALLOW (PREVENT 0) is allowed; PREVENT conflicts.
		if len(cdb) > 4 && cdb[4]&0x03 == 0 {
			return allowed
		}
		return conflicts
	case scsi.OpServiceActionIn16:
		if len(cdb) < 2 {
			return conflicts
		}
		switch cdb[1] & 0x1F {
		case scsi.SAReadCapacity16:
			return allowed
		case scsi.SAGetLBAStatus, saReportReferrals:
			return readLike
		}
		return conflicts
	case scsi.OpMaintenanceIn:
		if len(cdb) < 2 {
			return conflicts
		}
		switch cdb[1] & 0x1F {
		case scsi.SAReportTargetPortGroups, scsi.SAReportAliases,
			scsi.SAReportIdentifyingInfo, scsi.SAReportPriority,
			scsi.SAReportTimestamp:
			return allowed
		}
		return conflicts
	case opServiceActionIn12:
		if len(cdb) >= 2 && cdb[1]&0x1F == saReadMediaSerialNumber {
			return allowed
		}
		return conflicts
	}
	if a, ok := opAccess[op]; ok {
		return a
	}
	return conflicts
}

// legacyAllowed are the commands a RESERVE(6)/(10) reservation lets other
// I_T nexuses run (SPC-2 5.5.1): those that report the state of the logical
// unit without touching it, and RELEASE, which is a no-op for them.
func legacyAllowed(op byte) bool {
	switch op {
	case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense,
		scsi.OpRelease6, scsi.OpRelease10:
		return true
	}
	return false
}

// Check reports whether cdb, received on nexus n, must be terminated with
// RESERVATION CONFLICT because of the reservations in place. It decides for
// every command, reservation commands included (Execute applies it to those
// itself). An empty CDB never conflicts: the device model rejects it.
func (t *Table) Check(n Nexus, cdb []byte) bool {
	if t.cl != nil {
		// Without a reservation nothing conflicts: most commands pay
		// for no identity lookup.
		if t.res == nil && t.legacy == "" {
			return false
		}
		n = t.canon(n)
	}
	return t.check(n, cdb)
}

// check is Check for a nexus already in the table's identity form (canon).
func (t *Table) check(n Nexus, cdb []byte) bool {
	if len(cdb) == 0 {
		return false
	}
	op := cdb[0]
	if t.legacy != "" {
		// SPC-2 7.10: while a RESERVE reservation exists, PERSISTENT
		// RESERVE IN and OUT conflict for every I_T nexus.
		if op == scsi.OpPersistentReserveIn || op == scsi.OpPersistentReserveOut {
			return true
		}
		return t.legacy != n.ID && !legacyAllowed(op)
	}
	switch op {
	case scsi.OpReserve6, scsi.OpReserve10, scsi.OpRelease6, scsi.OpRelease10:
		// SPC-4 5.13.3: with persistent reservation state present,
		// RESERVE and RELEASE are no-ops for members and conflict for
		// everybody else.
		return t.hasPR() && !t.member(n.ID)
	}
	if t.res == nil || t.member(n.ID) {
		return false
	}
	switch classify(cdb) {
	case allowed:
		return false
	case readLike:
		return !writeExclusive(t.res.typ)
	}
	return true
}
