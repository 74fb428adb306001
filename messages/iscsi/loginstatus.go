package iscsi

// LoginStatus is a Login Response's Status-Class (high byte) and Status-Detail (low
// byte), RFC 7143 section 11.13.5, kept as one value so a failure is one constant and
// a test compares one number.
type LoginStatus uint16

// Status-Class values: what the initiator should do about a failed login.
const (
	// LoginClassSuccess: the login proceeds.
	LoginClassSuccess = 0
	// LoginClassRedirection: try again at the TargetAddress the response gives.
	LoginClassRedirection = 1
	// LoginClassInitiatorError: the request was wrong; retrying it as is fails again.
	LoginClassInitiatorError = 2
	// LoginClassTargetError: the target cannot serve the login now; it may later.
	LoginClassTargetError = 3
)

// Login status values (RFC 7143 section 11.13.5).
const (
	// LoginStatusSuccess: the request was accepted.
	LoginStatusSuccess LoginStatus = 0x0000
	// LoginStatusTargetMovedTemp: the target is at another address for now.
	LoginStatusTargetMovedTemp LoginStatus = 0x0101
	// LoginStatusTargetMovedPerm: the target is at another address for good.
	LoginStatusTargetMovedPerm LoginStatus = 0x0102
	// LoginStatusInitiatorError: a miscellaneous initiator error.
	LoginStatusInitiatorError LoginStatus = 0x0200
	// LoginStatusAuthFailure: the initiator could not be authenticated.
	LoginStatusAuthFailure LoginStatus = 0x0201
	// LoginStatusAuthorizationFailure: the initiator may not use this target.
	LoginStatusAuthorizationFailure LoginStatus = 0x0202
	// LoginStatusNotFound: no such target name.
	LoginStatusNotFound LoginStatus = 0x0203
	// LoginStatusTargetRemoved: the target no longer exists.
	LoginStatusTargetRemoved LoginStatus = 0x0204
	// LoginStatusUnsupportedVersion: no version in Version-min..Version-max is served.
	LoginStatusUnsupportedVersion LoginStatus = 0x0205
	// LoginStatusTooManyConnections: the session has MaxConnections already.
	LoginStatusTooManyConnections LoginStatus = 0x0206
	// LoginStatusMissingParameter: a required key (InitiatorName, TargetName) is absent.
	LoginStatusMissingParameter LoginStatus = 0x0207
	// LoginStatusCantIncludeInSession: the connection cannot join that session.
	LoginStatusCantIncludeInSession LoginStatus = 0x0208
	// LoginStatusSessionTypeNotSupported: the SessionType is not served.
	LoginStatusSessionTypeNotSupported LoginStatus = 0x0209
	// LoginStatusSessionDoesNotExist: the TSIH names no session.
	LoginStatusSessionDoesNotExist LoginStatus = 0x020a
	// LoginStatusInvalidDuringLogin: the request is not valid at this point of the login.
	LoginStatusInvalidDuringLogin LoginStatus = 0x020b
	// LoginStatusTargetError: a miscellaneous target error.
	LoginStatusTargetError LoginStatus = 0x0300
	// LoginStatusServiceUnavailable: the target is temporarily unavailable.
	LoginStatusServiceUnavailable LoginStatus = 0x0301
	// LoginStatusOutOfResources: the target lacks the resources for the session.
	LoginStatusOutOfResources LoginStatus = 0x0302
)

// Class is the Status-Class byte (a LoginClass... value).
func (s LoginStatus) Class() uint8 { return uint8(s >> 8) }

// Detail is the Status-Detail byte within the class.
func (s LoginStatus) Detail() uint8 { return uint8(s) }

// StatusClass returns byte 36 of a Login Response.
func (h *BHS) StatusClass() uint8 { return h[36] }

// StatusDetail returns byte 37 of a Login Response.
func (h *BHS) StatusDetail() uint8 { return h[37] }

// LoginStatus returns bytes 36..37 of a Login Response as one value.
func (h *BHS) LoginStatus() LoginStatus { return LoginStatus(h[36])<<8 | LoginStatus(h[37]) }

// SetLoginStatus sets bytes 36..37 of a Login Response.
func (h *BHS) SetLoginStatus(s LoginStatus) { h[36], h[37] = s.Class(), s.Detail() }
