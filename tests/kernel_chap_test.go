package tests

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/guest"
)

// chapMD5IQN is a target that allows only MD5.
const chapMD5IQN = "iqn.2026-11.dev.atgt:chap-md5"

// TestKernelChap logs the kernel initiator in with CHAP set through the node settings
// (node.session.auth.*), in one boot. The guest offers every algorithm open-iscsi
// knows, MD5 first (chap_algs), and the target takes the first of its own list that
// the initiator offers (RFC 7143 12.1.3): SHA3-256 from the default list, SHA-256
// from ["SHA-256", "MD5"], MD5 from ["MD5"]. Mutual CHAP makes the target prove
// itself with its own secret. A wrong secret is refused with an authentication
// failure (status 0201), and no secret reaches atgtd's log.
func TestKernelChap(t *testing.T) {
	base := oneLunConfig(t, 16<<20)
	target := func(iqn string, cred, mutual *chapCred, algs ...string) chapTarget {
		l := base.Targets[0].Luns[0]
		l.Path = filepath.Join(base.DataDir, strings.TrimPrefix(iqn, "iqn.2026-11.dev.atgt:")+".img")
		return chapTarget{testTarget: testTarget{Name: iqn, Luns: []testLun{l}}, Chap: cred, MutualChap: mutual,
			ChapAlgorithms: algs}
	}
	cfg := chapConfig{testConfig: base, Targets: []chapTarget{
		target(chapOneWayIQN, &chapCred{User: chapUser1, Secret: chapSecret1}, nil),
		target(chapMutualIQN, &chapCred{User: chapUser2, Secret: chapSecret2},
			&chapCred{User: chapTgtUser2, Secret: chapTgtSecret2}, "SHA-256", "MD5"),
		target(chapMD5IQN, &chapCred{User: chapUser3, Secret: chapSecret3}, nil, "MD5"),
	}}
	d := startChapDaemon(t, cfg)

	body := `
ALGS=MD5,SHA1,SHA256,SHA3-256
# chap_login NAME IQN USER SECRET [USER_IN SECRET_IN]: CHAP through the node
# settings, a login, a read of the LUN, a logout.
chap_login() {
	node_add "$2" >/dev/null
	node_set "$2" node.session.auth.authmethod CHAP
	node_set "$2" node.session.auth.chap_algs "$ALGS"
	node_set "$2" node.session.auth.username "$3"
	node_set "$2" node.session.auth.password "$4"
	if [ -n "$5" ]; then
		node_set "$2" node.session.auth.username_in "$5"
		node_set "$2" node.session.auth.password_in "$6"
	fi
	run "$1_login" /sbin/iscsiadm -m node -T "$2" -p "$PORTAL" --login || return
	_d=$(disk_of 0)
	run "$1_read" dd if=/dev/$_d of=/dev/null bs=64k count=16
	run "$1_logout" /sbin/iscsiadm -m node -T "$2" -p "$PORTAL" --logout
}
chap_login oneway "$IQN1" "$U1" "$S1"
chap_login mutual "$IQN2" "$U2" "$S2" "$TU2" "$TS2"
chap_login md5 "$IQN3" "$U3" "$S3"
chap_login wrong "$IQN1" "$U1" "not-the-secret-of-alice"
result "sessions_after=$(/sbin/iscsiadm -m session 2>/dev/null | grep -c iqn)"
`
	r := bootGuest(t, d, guest.Options{
		Script: guestScript(map[string]string{"INAME": guestInit1,
			"IQN1": chapOneWayIQN, "U1": chapUser1, "S1": chapSecret1,
			"IQN2": chapMutualIQN, "U2": chapUser2, "S2": chapSecret2, "TU2": chapTgtUser2, "TS2": chapTgtSecret2,
			"IQN3": chapMD5IQN, "U3": chapUser3, "S3": chapSecret3}, body),
		Timeout: 3 * time.Minute,
	})
	// iscsiadm exits 24 (ISCSI_ERR_LOGIN_AUTH_FAILED) when the target refuses the login.
	expectValues(t, r, map[string]string{
		"oneway_login": "0", "oneway_read": "0", "oneway_logout": "0",
		"mutual_login": "0", "mutual_read": "0", "mutual_logout": "0",
		"md5_login": "0", "md5_read": "0", "md5_logout": "0",
		"wrong_login": "24", "sessions_after": "0"})
	log := d.stderr.String()
	for _, want := range []struct{ iqn, auth string }{
		{chapOneWayIQN, "AuthMethod=CHAP CHAP_A=8"},
		{chapMutualIQN, "AuthMethod=CHAP CHAP_A=7 Mutual=Yes"},
		{chapMD5IQN, "AuthMethod=CHAP CHAP_A=5"},
	} {
		re := regexp.MustCompile(`login: .*initiator=` + regexp.QuoteMeta(guestInit1) + ` target=` +
			regexp.QuoteMeta(want.iqn) + ` .*auth="` + regexp.QuoteMeta(want.auth) + `"`)
		if !re.MatchString(log) {
			t.Errorf("atgtd's log has no login of %s with %s", want.iqn, want.auth)
		}
	}
	if !regexp.MustCompile(`login refused: (tsih=\d+ )?initiator=` + regexp.QuoteMeta(guestInit1) + ` .*reason="authentication failed`).MatchString(log) {
		t.Errorf("atgtd's log shows no refused login for the wrong secret")
	}
}
