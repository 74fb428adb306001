// Package initiator is a small iSCSI initiator (RFC 7143) for tests: it logs in,
// runs SCSI commands with correct R2T, Data-In/Data-Out, CmdSN and digest handling,
// and exposes the raw connection so tests can also inject bad traffic. It is a test
// client, not a product: error recovery level 0, one connection per session.
//
// One background reader goroutine per session demultiplexes target PDUs by ITT;
// each command runs in its own goroutine, so several can be outstanding at once.
package initiator
