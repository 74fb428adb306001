// Package login is the iSCSI login phase (RFC 7143 sections 6, 11.12, 11.13 and 13) as
// pure protocol logic: a Machine consumes Login Request fields and produces the Login
// Response to send, negotiating the text keys along the way. It knows nothing of
// sockets or actors so the connection actor stays small and the negotiation rules can
// be tested, and fuzzed, on their own.
package login
