// Package reservation implements SCSI reservations for one logical unit as
// pure logic: the legacy RESERVE/RELEASE of SPC-2 and the persistent
// reservations of SPC-4 (PERSISTENT RESERVE IN and OUT), the reservation
// conflict check every other command must pass (SPC-4 table "SPC commands
// that are allowed in the presence of various reservations" and its SBC-3
// counterpart), the unit attentions reservation changes raise on other I_T
// nexuses, and the APTPL state file.
//
// A Table has no goroutines, sockets or files: the LUN actor owns it, and
// scsidev.Device.Execute calls it one command at a time, after the not ready
// and unit attention checks and before the command itself. Everything to do
// afterwards is returned in an Outcome: unit attentions to queue, tasks to
// abort, and a state snapshot that an IO worker must write with WriteStateFile
// before the command is answered, so that the LUN actor itself never blocks
// on the disk; the change stands only if that write succeeds (Saved,
// unsaved.go).
//
// An I_T nexus is identified by its initiator port name in the form the
// connection builds, "iqn.…,i,0x<ISID>". Registrations of a local table are
// keyed by that name: one atgtd exposes each LUN through one SCSI target
// port, so the initiator port alone identifies the I_T nexus. A cluster
// table (cluster.go), whose state several gateways share, keys them by
// initiator port and relative target port.
package reservation
