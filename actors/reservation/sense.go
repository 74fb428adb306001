package reservation

import "github.com/atgt/atgt/messages/scsi"

// The sense conditions below are specific to reservations, so they live here
// rather than in messages/scsi.

// reservationsPreempted is UNIT ATTENTION, RESERVATIONS PREEMPTED (2A/03),
// raised by CLEAR on every other registered I_T nexus.
func reservationsPreempted() *scsi.SenseError {
	return &scsi.SenseError{Key: scsi.SenseUnitAttention, ASC: 0x2A, ASCQ: 0x03}
}

// reservationsReleased is UNIT ATTENTION, RESERVATIONS RELEASED (2A/04),
// raised when a registrants-only or all-registrants reservation is released,
// or a preempt changes the reservation's type.
func reservationsReleased() *scsi.SenseError {
	return &scsi.SenseError{Key: scsi.SenseUnitAttention, ASC: 0x2A, ASCQ: 0x04}
}

// registrationsPreempted is UNIT ATTENTION, REGISTRATIONS PREEMPTED (2A/05),
// raised on every I_T nexus whose registration a PREEMPT removed.
func registrationsPreempted() *scsi.SenseError {
	return &scsi.SenseError{Key: scsi.SenseUnitAttention, ASC: 0x2A, ASCQ: 0x05}
}

// invalidRelease is ILLEGAL REQUEST, INVALID RELEASE OF PERSISTENT
// RESERVATION (26/04): the holder released with the wrong scope or type.
func invalidRelease() *scsi.SenseError {
	return &scsi.SenseError{Key: scsi.SenseIllegalRequest, ASC: 0x26, ASCQ: 0x04}
}

// insufficientRegistrationResources is ILLEGAL REQUEST, INSUFFICIENT
// REGISTRATION RESOURCES (55/04): the table is full (see MaxRegistrations).
func insufficientRegistrationResources() *scsi.SenseError {
	return &scsi.SenseError{Key: scsi.SenseIllegalRequest, ASC: 0x55, ASCQ: 0x04}
}
