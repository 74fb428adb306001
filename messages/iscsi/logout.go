package iscsi

// Logout Request reason codes (RFC 7143 section 11.14.1), the low 7 bits of byte 1.
const (
	// LogoutCloseSession closes every connection of the session.
	LogoutCloseSession = 0
	// LogoutCloseConnection closes the connection named by CID.
	LogoutCloseConnection = 1
	// LogoutRemoveConnection removes the connection named by CID for recovery.
	LogoutRemoveConnection = 2
)

// Logout Response codes (RFC 7143 section 11.15.1), byte 2 of the response.
const (
	// LogoutRespSuccess: the connection or session is closed.
	LogoutRespSuccess = 0
	// LogoutRespCIDNotFound: no connection with that CID.
	LogoutRespCIDNotFound = 1
	// LogoutRespRecoveryNotSupported: connection recovery is not supported.
	LogoutRespRecoveryNotSupported = 2
	// LogoutRespCleanupFailed: the cleanup failed for some other reason.
	LogoutRespCleanupFailed = 3
)

// LogoutReason returns the reason code of a Logout Request.
func (h *BHS) LogoutReason() uint8 { return h[1] & LogoutReasonMask }

// SetLogoutReason sets byte 1 of a Logout Request to reason with F, which the RFC
// requires to be 1.
func (h *BHS) SetLogoutReason(reason uint8) { h[1] = FlagFinal | reason&LogoutReasonMask }
