package scsidev

// Page control values of MODE SENSE (SPC-4 6.11 table 98).
const (
	pcCurrent    = 0
	pcChangeable = 1
	pcDefault    = 2
	pcSaved      = 3
)

// modePage is one mode page (subpage 0) with its current, changeable and
// default values. Only WCE (Caching) and SWP (Control) are changeable.
type modePage struct {
	code byte
	// build returns the page bytes for a page control value. Saved values
	// are the defaults except the saved WCE bit of the Caching page.
	build func(d *Device, pc byte) []byte
}

// modePages lists the pages in ascending page code order, the order in
// which "return all pages" reports them.
var modePages = []modePage{
	{code: 0x01, build: readWriteErrorRecoveryPage},
	{code: 0x08, build: cachingPage},
	{code: 0x0A, build: controlPage},
	{code: 0x1C, build: informationalExceptionsPage},
}

// findModePage returns the page with the given code.
func findModePage(code byte) (*modePage, bool) {
	for i := range modePages {
		if modePages[i].code == code {
			return &modePages[i], true
		}
	}
	return nil, false
}

// readWriteErrorRecoveryPage (SBC-3 6.4.9): no automatic reallocation and
// no retry counts to report; nothing is changeable.
func readWriteErrorRecoveryPage(_ *Device, _ byte) []byte {
	b := make([]byte, 12)
	b[0], b[1] = 0x01, 0x0A
	return b
}

// cachingPage (SBC-3 6.4.5): the write cache (WCE) is real (the page cache)
// and changeable; the read cache cannot be disabled. With Config.SaveModes
// the page is savable (PS=1) and its saved WCE is reported for PC=saved.
func cachingPage(d *Device, pc byte) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 0x08, 0x12
	if d.cfg.SaveModes {
		b[0] |= 0x80
	}
	switch pc {
	case pcChangeable:
		b[2] = 0x04
	case pcDefault:
		if d.cfg.WriteCache {
			b[2] = 0x04
		}
	case pcSaved:
		if d.saved.WriteCache {
			b[2] = 0x04
		}
	default:
		if d.wce {
			b[2] = 0x04
		}
	}
	return b
}

// controlPage (SPC-4 7.5.8): one task set per logical unit shared by every I_T
// nexus (TST=000b), fixed format sense (D_SENSE=0), unrestricted reordering (QAM=1)
// because IO workers complete commands in any order, a changeable software write
// protect (SWP), commands aborted by another I_T nexus's task management function
// ended with TASK ABORTED status (TAS=1, byte 5 bit 6: CLEAR TASK SET and the resets
// act on the shared task set; the connections of the other nexuses answer their
// aborted tasks so), and unlimited busy timeout. Only SWP is changeable.
func controlPage(d *Device, pc byte) []byte {
	b := make([]byte, 12)
	b[0], b[1] = 0x0A, 0x0A
	if pc == pcChangeable {
		b[4] = 0x08
		return b
	}
	b[3] = 0x10
	b[5] = 0x40 // TAS
	if pc == pcCurrent && d.swp {
		b[4] = 0x08
	}
	b[8], b[9] = 0xFF, 0xFF
	return b
}

// informationalExceptionsPage (SPC-4 7.5.13): exception reporting is
// disabled (DEXCPT=1); the device has no failure prediction.
func informationalExceptionsPage(_ *Device, pc byte) []byte {
	b := make([]byte, 12)
	b[0], b[1] = 0x1C, 0x0A
	if pc != pcChangeable {
		b[2] = 0x08
	}
	return b
}
