package conn

import (
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/metrics"
)

// Counting for metrics (actors/metrics): a connection counts its login's outcome
// once (loginFailed, countLogin), and when it ends after a successful login, a
// normal or abnormal logout and, for a normal session, one session fewer.

// loginResult is the metrics result of a login refused with status st.
func loginResult(st login.Status) metrics.LoginResult {
	switch st {
	case login.AuthFailure:
		return metrics.LoginAuthenticationFailure
	case login.AuthorizationFailure:
		return metrics.LoginAuthorizationFailure
	}
	return metrics.LoginNegotiationFailure
}

// countLogin counts a successful login and, for a normal session, its target's
// session.
func (c *connActor) countLogin(r login.Result) {
	c.cfg.Metrics.Login(metrics.LoginSuccess)
	if r.SessionType != login.SessionDiscovery && r.Target.Name != "" {
		c.session = r.Target.Name
		c.cfg.Metrics.SessionUp(c.session)
	}
}

// countEnd counts the end of a logged-in connection, once: normal if the initiator
// logged out, abnormal otherwise.
func (c *connActor) countEnd() {
	if c.m == nil || c.ended {
		return
	}
	c.ended = true
	c.cfg.Metrics.Logout(c.m.LoggedOut())
	if c.session != "" {
		c.cfg.Metrics.SessionDown(c.session)
	}
}
