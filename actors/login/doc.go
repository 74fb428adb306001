// Package login is the iSCSI login phase (RFC 7143 sections 6, 11.12, 11.13 and 13) as
// pure protocol logic: a Machine consumes Login Request fields and produces the Login
// Response to send, negotiating the text keys along the way. It knows nothing of
// sockets or actors so the connection actor stays small and the negotiation rules can
// be tested, and fuzzed, on their own. The security stage runs behind the
// Authenticator seam: AuthNone, or ChapAuth (CHAP, RFC 7143 section 12.1.3, one-way
// and mutual, with its randomness injected so that its tests are deterministic).
package login
