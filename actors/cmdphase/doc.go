// Package cmdphase is an iSCSI connection's command phase (RFC 7143's full feature
// phase) as a pure state machine, in the manner of login.Machine and etcd's raft: the
// connection actor feeds it inputs (a parsed PDU, the session's ordering decision, a
// task's completion, a task management answer, a tick with the time) and drains what
// each input appended to its Outbox (PDUs to send, messages for the session, the
// LUNs and the dispatcher, a socket to close). There is no protoactor, no socket and
// no clock inside, so every rule of the phase is tested from transcripts
// (testdata/scripts, rewritten with -rewrite) without a network.
//
// The files follow the phase's concerns, as LIO splits its target: admit.go (SCSI
// Command admission and buffer adoption), dataout.go (R2T and Data-Out), datain.go
// (Data-In segmentation and residuals), tmf.go (task management), control.go (NOP,
// Text, Logout, Reject), window.go and ahead.go (ExpCmdSN as the session reports
// it, MaxCmdSN) and machine.go (inputs, the outbox and the end of the connection).
package cmdphase
