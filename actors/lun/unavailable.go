package lun

import (
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/messages/scsi"
)

// A gateway that may not serve: cut off from the cluster (alua_contact.go), fenced
// off (reopen.go) or unsure of the shared reservations (cluster.go). It must not
// serve IO, and another gateway can, so it says so the way ALUA initiators act on at
// once: its own group is reported unavailable (REPORT TARGET PORT GROUPS runs, SPC-4
// 5.11.2.4.5), and every command but INQUIRY, REPORT LUNS, REQUEST SENSE and the
// MAINTENANCE IN reports is answered NOT READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET
// PORT IN UNAVAILABLE STATE (04/0C). Linux fails such a command at once as a path
// error (scsi_io_completion_action: ACTION_FAIL, BLK_STS_IOERR), so dm-multipath
// sends it through another gateway at once; its ALUA handler, having read the state,
// fails further IO on this path without sending it (alua_prep_fn), and multipathd's
// TEST UNIT READY checker marks the path down. BECOMING READY (04/01), the answer
// before, is retried on the same path for up to (retries + 1) x the command timeout
// (3 minutes by default) before multipath sees it. A LUN without port groups (one
// node: no other path) and a stalled LUN (watchdog.go: it is ready again as soon as
// one call returns) answer 04/01 as before.

// errUnavailable answers the commands a gateway that may not serve refuses.
var errUnavailable = scsi.NotReadyUnavailable()

// unavailable reports whether this node's group is to be shown unavailable: a LUN
// of several port groups that is cut off, fenced off or in doubt.
func (l *lunActor) unavailable() bool {
	return l.cfg.ALUA != nil && len(l.cfg.ALUA.Groups) > 1 && (l.contact.cut || l.reopen.active || l.prDoubt)
}

// refusal is the answer to cdb when this node may not run it now, or nil: 04/0C
// while unavailable, 04/01 while stalled, fenced or in doubt without port groups.
func (l *lunActor) refusal(cdb []byte) *scsi.SenseError {
	switch {
	case len(cdb) == 0:
		return nil
	case l.unavailable():
		// Answered here, at once, as before a queue that may wait on a backend
		// call that hangs; the unit attention of the change is reported by the
		// commands that run (REPORT TARGET PORT GROUPS among them) and after.
		if scsidev.RunsWhenUnavailable(cdb) {
			return nil
		}
		return errUnavailable
	case (l.stalled() || l.reopen.active || l.contact.cut || l.prDoubt) && !runsWhenStalled(cdb):
		return errNotReady
	}
	return nil
}

// notReadyError answers an IO admitted before this node stopped serving.
func (l *lunActor) notReadyError() *scsi.SenseError {
	if l.unavailable() {
		return errUnavailable
	}
	return errNotReady
}

// showAvailability puts this node's group in the unavailable state while
// unavailable holds and back to the state the lock gives it after; the other
// groups keep what they showed (a node that cannot reach the cluster does not
// guess who holds the lock). Each change raises ASYMMETRIC ACCESS STATE CHANGED.
func (l *lunActor) showAvailability() {
	a := l.cfg.ALUA
	if a == nil || len(a.Groups) < 2 {
		return
	}
	state := scsidev.Unavailable
	switch {
	case l.unavailable():
	case a.Owner == nil:
		state = scsidev.ActiveOptimized // no lock: every group is, always
	default:
		state = a.GroupStates(l.follow.applied)[a.Local]
	}
	if l.cfg.Device.SetPortGroupState(a.Local, state) {
		l.cfg.Log.Info("ALUA state of this node's group changed", "lun", l.cfg.ID, "group", a.Local,
			"unavailable", state == scsidev.Unavailable, "cutOff", l.contact.cut, "fenced", l.reopen.active, "reservationsInDoubt", l.prDoubt)
	}
}
