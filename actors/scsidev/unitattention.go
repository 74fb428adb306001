package scsidev

import "github.com/atgt/atgt/messages/scsi"

// maxPendingUA bounds the unit attention queue of one nexus; SAM-5 lets a
// device drop conditions when it cannot keep them all (queueUA keeps the
// highest ranked).
const maxPendingUA = 8

// seen registers nexus; a nexus met for the first time starts with POWER
// ON, RESET, OR BUS DEVICE RESET OCCURRED, as after a real power on.
func (d *Device) seen(nexus string) {
	if _, ok := d.nexuses[nexus]; !ok {
		d.nexuses[nexus] = []*scsi.SenseError{scsi.PowerOnReset()}
	}
}

// takeUnitAttention returns and clears the oldest pending unit attention
// of nexus, unless the command is one that runs despite it.
func (d *Device) takeUnitAttention(nexus string, allowed bool) *scsi.SenseError {
	d.seen(nexus)
	if allowed {
		return nil
	}
	return d.popUnitAttention(nexus)
}

func (d *Device) popUnitAttention(nexus string) *scsi.SenseError {
	q := d.nexuses[nexus]
	if len(q) == 0 {
		return nil
	}
	ua := q[0]
	d.nexuses[nexus] = q[1:]
	return ua
}

// AddUnitAttention establishes unit attention e for nexus, or for every
// known nexus when nexus is "". A nexus not seen yet will get POWER ON
// first anyway, which supersedes e, so it is not recorded for it.
func (d *Device) AddUnitAttention(nexus string, e *scsi.SenseError) {
	if e == nil {
		return
	}
	if nexus == "" {
		for n := range d.nexuses {
			d.queueUA(n, e)
		}
		return
	}
	if _, ok := d.nexuses[nexus]; ok {
		d.queueUA(nexus, e)
	}
}

// dropUnitAttention clears a pending unit attention with e's ASC and ASCQ for nexus.
func (d *Device) dropUnitAttention(nexus string, e *scsi.SenseError) {
	q := d.nexuses[nexus]
	for i, p := range q {
		if p.ASC == e.ASC && p.ASCQ == e.ASCQ {
			d.nexuses[nexus] = append(q[:i:i], q[i+1:]...)
			return
		}
	}
}

// addUnitAttentionOthers establishes e for every known nexus but except.
func (d *Device) addUnitAttentionOthers(except string, e *scsi.SenseError) {
	for n := range d.nexuses {
		if n != except {
			d.queueUA(n, e)
		}
	}
}

// queueUA establishes e for nexus, keeping the queue in the order SAM-5 5.14
// ranks unit attention conditions for reporting (uaRank; oldest first among
// equals), so that a reset is reported before the conditions established
// before it. A reset condition (29/xx) supersedes the pending ones it ranks above
// or equal to: POWER ON (29/00) makes a pending LOGICAL UNIT RESET (29/03) moot,
// and is not repeated. When the queue is full the condition dropped is the
// lowest ranked, oldest first: resets are never dropped for other conditions.
func (d *Device) queueUA(nexus string, e *scsi.SenseError) {
	q := d.nexuses[nexus]
	rank := uaRank(e)
	for _, p := range q {
		if p.ASC == e.ASC && p.ASCQ == e.ASCQ || isReset(p) && isReset(e) && uaRank(p) <= rank {
			return // already pending, or a reset that covers this one
		}
	}
	if isReset(e) {
		kept := q[:0]
		for _, p := range q {
			if !isReset(p) {
				kept = append(kept, p)
			}
		}
		clear(q[len(kept):])
		q = kept
	}
	if len(q) >= maxPendingUA {
		drop := len(q) - 1 // the lowest ranked is last; its oldest comes first
		for drop > 0 && uaRank(q[drop-1]) == uaRank(q[len(q)-1]) {
			drop--
		}
		if uaRank(q[drop]) < rank {
			return // e ranks below everything pending
		}
		q = append(q[:drop], q[drop+1:]...)
	}
	at := len(q)
	for at > 0 && uaRank(q[at-1]) > rank {
		at--
	}
	c := *e
	q = append(q, nil)
	copy(q[at+1:], q[at:])
	q[at] = &c
	d.nexuses[nexus] = q
}

// isReset reports a reset condition: ASC 29h (POWER ON, RESET, OR BUS DEVICE
// RESET OCCURRED and its kin).
func isReset(e *scsi.SenseError) bool { return e.ASC == 0x29 }

// uaRank is a unit attention condition's reporting priority (SAM-5 5.14), 0 the
// highest: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED; POWER ON OCCURRED;
// DEVICE INTERNAL RESET; SCSI BUS RESET OCCURRED and MICROCODE HAS BEEN CHANGED;
// BUS DEVICE RESET FUNCTION OCCURRED (a logical unit reset); I_T NEXUS LOSS
// OCCURRED; COMMANDS CLEARED BY POWER LOSS NOTIFICATION; then all others.
func uaRank(e *scsi.SenseError) int {
	switch {
	case e.ASC == 0x29 && e.ASCQ == 0x00:
		return 0
	case e.ASC == 0x29 && e.ASCQ == 0x01:
		return 1
	case e.ASC == 0x29 && e.ASCQ == 0x04:
		return 2
	case e.ASC == 0x29 && e.ASCQ == 0x02, e.ASC == 0x3F && e.ASCQ == 0x01:
		return 3
	case e.ASC == 0x29 && e.ASCQ == 0x03:
		return 4
	case e.ASC == 0x29:
		return 5
	case e.ASC == 0x2F && e.ASCQ == 0x01:
		return 6
	}
	return 7
}

// ForgetNexus drops the state of nexus after I_T nexus loss; its next
// command starts again with POWER ON, RESET.
func (d *Device) ForgetNexus(nexus string) {
	delete(d.nexuses, nexus)
}
