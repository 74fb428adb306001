package scsidev

import (
	"github.com/atgt/atgt/messages/scsi"
)

// Device is the SCSI state of one logical unit. It is not safe for
// concurrent use: the LUN actor that owns it calls it one message at a time.
type Device struct {
	cfg Config
	// wce is the current WCE bit of the Caching mode page.
	wce bool
	// swp is the current SWP bit of the Control mode page.
	swp bool
	// saved is the saved mode state (WCE and its save sequence); saveSeq is
	// the last sequence number handed to a save not yet done.
	saved   SavedModes
	saveSeq uint64
	// nexuses holds the pending unit attentions of every I_T nexus the
	// device has seen, oldest first.
	nexuses map[string][]*scsi.SenseError
	// copies holds the EXTENDED COPY status of each nexus by list
	// identifier, for RECEIVE COPY RESULTS.
	copies map[string]map[byte]*copyState
	// pending maps the token of an IO whose outcome changes device state
	// (a copy, a sanitize, a mode or reservation save) to what to update.
	pending   map[uint64]pendingIO
	nextToken uint64
	// planned is nextToken when the last Execute began: the tokens above it
	// are those of the command Execute last planned (AbandonPlanned).
	planned uint64
	// sanitizing is set from a SANITIZE until its IO is done; then
	// sanitizeFailed says whether it failed (SBC-3 4.11).
	sanitizing, sanitizeFailed bool
	// progress reports the running SANITIZE's progress in 65536ths (nil: 0).
	progress func() uint16
	// groups holds the asymmetric access state of each ALUA target port group
	// (alua.go); empty without port groups.
	groups map[uint16]groupState
}

// New returns a device for cfg, with defaults filled in.
func New(cfg Config) *Device {
	cfg = cfg.withDefaults()
	saved := SavedModes{WriteCache: cfg.WriteCache}
	if cfg.Saved != nil {
		saved = *cfg.Saved
	}
	d := &Device{
		cfg:     cfg,
		wce:     saved.WriteCache,
		saved:   saved,
		nexuses: make(map[string][]*scsi.SenseError),
		copies:  make(map[string]map[byte]*copyState),
		pending: make(map[uint64]pendingIO),
	}
	d.initGroups()
	return d
}

// WriteCacheEnabled reports the current WCE bit: when false every write
// must be stable before GOOD.
func (d *Device) WriteCacheEnabled() bool { return d.wce }

// SetWriteCache sets the WCE bit, as the configuration or MODE SELECT does.
func (d *Device) SetWriteCache(on bool) { d.wce = on }

// Thin reports whether the LU is thin provisioned (Config.Thin), false for nil.
// It never changes, so IO workers may ask it.
func (d *Device) Thin() bool { return d != nil && d.cfg.Thin }

// BlockSize is the logical block length in bytes.
func (d *Device) BlockSize() uint32 { return d.cfg.BlockSize }

// NAA is the logical unit's NAA designator, which EXTENDED COPY target
// descriptors name it by.
func (d *Device) NAA() uint64 { return d.cfg.NAA }

// Blocks is the capacity in logical blocks.
func (d *Device) Blocks() uint64 { return d.cfg.Blocks }

// SetBlocks changes the capacity (an administrator resized the LUN); commands are
// checked against it from the next one on. The caller establishes the unit attention.
func (d *Device) SetBlocks(n uint64) { d.cfg.Blocks = n }

// writeProtected is true when writes must be refused, and the sense to
// refuse them with.
func (d *Device) writeProtected() (*scsi.SenseError, bool) {
	if d.cfg.ReadOnly {
		return scsi.WriteProtected(), true
	}
	if d.swp {
		return scsi.SoftwareWriteProtected(), true
	}
	return nil, false
}

// good is a GOOD result carrying data-in.
func good(data []byte) Result {
	return Result{Status: scsi.StatusGood, Data: data}
}

// checkCondition turns an error into a CHECK CONDITION result.
func checkCondition(err error) Result {
	return Result{
		Status: scsi.StatusCheckCondition,
		Sense:  scsi.AppendSense(nil, scsi.SenseFromError(err)),
	}
}

// truncate cuts data-in to the CDB's allocation length.
func truncate(data []byte, alloc uint32) []byte {
	if uint64(len(data)) > uint64(alloc) {
		return data[:alloc]
	}
	return data
}

// command runs the command itself, once the checks before it (Execute) let
// it: opcode, CDB length and NACA, then its emulation. The medium stays
// unusable after a failed SANITIZE, so an IO on it is refused, and so is every
// medium access command, also one that would transfer nothing.
func (d *Device) command(op byte, r *Request) Result {
	if !scsi.Commands[op].Supported {
		return checkCondition(scsi.InvalidOpcode())
	}
	n := scsi.CDBLength(op)
	if n == 0 || len(r.CDB) < n {
		return checkCondition(scsi.InvalidFieldInCDB(0, -1))
	}
	cdb := r.CDB[:n]
	// NACA (SAM-5 5.9.1.2): this target does not implement ACA.
	if cdb[n-1]&0x04 != 0 {
		return checkCondition(scsi.InvalidFieldInCDB(n-1, 2))
	}
	res, err := d.dispatch(op, cdb, r)
	if err != nil {
		return checkCondition(err)
	}
	if d.sanitizeFailed && op != scsi.OpSanitize && (res.IO.Kind.Medium() || mediumAccess(cdb)) {
		return checkCondition(scsi.SanitizeFailed())
	}
	return res
}

// dispatch calls the emulation of op; the CDB length is already checked.
func (d *Device) dispatch(op byte, cdb []byte, r *Request) (Result, error) {
	switch op {
	case scsi.OpTestUnitReady:
		return good(nil), nil
	case scsi.OpStartStopUnit:
		return d.startStopUnit(cdb)
	case scsi.OpRequestSense:
		return d.requestSense(cdb, r.Nexus)
	case scsi.OpInquiry:
		return d.inquiry(cdb)
	case scsi.OpReportLUNs:
		return d.reportLUNs(cdb)
	case scsi.OpReadCapacity10:
		return d.readCapacity10(cdb)
	case scsi.OpServiceActionIn16:
		switch cdb[1] & 0x1F {
		case scsi.SAReadCapacity16:
			return d.readCapacity16(cdb)
		case scsi.SAGetLBAStatus:
			return d.getLBAStatus(cdb)
		}
		// Field pointer 1 tells initiators the service action is
		// not implemented, like an unknown opcode.
		return Result{}, scsi.InvalidFieldInCDB(1, 4)
	case scsi.OpModeSense6, scsi.OpModeSense10:
		return d.modeSense(cdb)
	case scsi.OpModeSelect6, scsi.OpModeSelect10:
		return d.modeSelect(cdb, r)
	case scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16:
		return d.read(cdb)
	case scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16,
		scsi.OpWriteAndVerify10, scsi.OpWriteAndVerify12, scsi.OpWriteAndVerify16:
		return d.write(cdb, r)
	case scsi.OpVerify10, scsi.OpVerify12, scsi.OpVerify16:
		return d.verify(cdb, r)
	case scsi.OpSynchronizeCache10, scsi.OpSynchronizeCache16:
		return d.synchronizeCache(cdb)
	case scsi.OpUnmap:
		return d.unmap(cdb, r)
	case scsi.OpWriteSame10, scsi.OpWriteSame16:
		return d.writeSame(cdb, r)
	case scsi.OpCompareAndWrite:
		return d.compareAndWrite(cdb, r)
	case scsi.OpORWrite:
		return d.orWrite(cdb, r)
	case scsi.OpPrefetch10, scsi.OpPrefetch16:
		return d.prefetch(cdb)
	case scsi.OpPreventAllowRemoval:
		return d.preventAllow(cdb)
	case scsi.OpReadDefectData10, scsi.OpReadDefectData12:
		return d.readDefectData(cdb)
	case scsi.OpExtendedCopy:
		return d.extendedCopy(cdb, r)
	case scsi.OpReceiveCopyResults:
		return d.receiveCopyResults(cdb, r.Nexus)
	case scsi.OpSanitize:
		return d.sanitize(cdb, r)
	case scsi.OpMaintenanceIn:
		switch cdb[1] & 0x1F {
		case scsi.SAReportSupportedOpcodes:
			return d.reportSupportedOpcodes(cdb)
		case scsi.SAReportSupportedTMFs:
			return d.reportSupportedTMFs(cdb)
		case scsi.SAReportTargetPortGroups:
			if d.alua() {
				return d.reportTargetPortGroups(cdb)
			}
		}
		return Result{}, scsi.InvalidFieldInCDB(1, 4)
	}
	return Result{}, scsi.InvalidOpcode()
}
