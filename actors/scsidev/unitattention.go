package scsidev

import "github.com/atgt/atgt/messages/scsi"

// maxPendingUA bounds the unit attention queue of one nexus; SAM-5 lets a
// device drop older conditions when it cannot keep them all.
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

func (d *Device) queueUA(nexus string, e *scsi.SenseError) {
	q := d.nexuses[nexus]
	for _, p := range q {
		if p.ASC == e.ASC && p.ASCQ == e.ASCQ {
			return
		}
	}
	if len(q) >= maxPendingUA {
		q = q[1:]
	}
	c := *e
	d.nexuses[nexus] = append(q, &c)
}

// ForgetNexus drops the state of nexus after I_T nexus loss; its next
// command starts again with POWER ON, RESET.
func (d *Device) ForgetNexus(nexus string) {
	delete(d.nexuses, nexus)
}
