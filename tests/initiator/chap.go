package initiator

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atgt/atgt/messages/iscsi"
)

// Chap is the CHAP an initiator logs in with (RFC 7143 section 12.1.3, RFC 1994). It
// is written apart from the target's code, so that a test of one against the other
// checks both against the standard rather than against themselves.
type Chap struct {
	// User and Secret are the initiator's CHAP name and secret.
	User   string
	Secret []byte
	// Algorithms is the CHAP_A offer, in the initiator's order. Empty offers 8,7,6,5.
	Algorithms []uint8
	// TargetUser and TargetSecret, when TargetSecret is set, ask the target to prove
	// itself too (mutual CHAP): the login fails unless it answers the initiator's
	// challenge with them.
	TargetUser   string
	TargetSecret []byte
	// Tamper, when set, may rewrite the keys of each CHAP request before it goes out,
	// for tests of hostile initiators: round 1 is the CHAP_A request, round 2 the one
	// with CHAP_N and CHAP_R; target holds the keys of the target's last answer.
	Tamper func(round int, target map[string]string, keys []iscsi.KV) []iscsi.KV
}

// ErrChapTarget reports a target that failed to prove itself (mutual CHAP) or broke
// the CHAP exchange.
var ErrChapTarget = errors.New("initiator: the target failed CHAP")

// chapDigest computes H(id || secret || challenge) for a CHAP_A number; ok is false
// for an algorithm the initiator does not know.
func chapDigest(alg uint8, id uint8, secret, challenge []byte) ([]byte, bool) {
	msg := append(append([]byte{id}, secret...), challenge...)
	switch alg {
	case 5:
		d := md5.Sum(msg)
		return d[:], true
	case 6:
		d := sha1.Sum(msg)
		return d[:], true
	case 7:
		d := sha256.Sum256(msg)
		return d[:], true
	case 8:
		d := sha3.Sum256(msg)
		return d[:], true
	}
	return nil, false
}

// chapBinary reads a hex (0x) or base64 (0b) value the target sent.
func chapBinary(s string) ([]byte, error) {
	switch {
	case strings.HasPrefix(s, "0x"), strings.HasPrefix(s, "0X"):
		body := s[2:]
		if len(body)%2 == 1 {
			body = "0" + body
		}
		return hex.DecodeString(body)
	case strings.HasPrefix(s, "0b"), strings.HasPrefix(s, "0B"):
		return base64.StdEncoding.DecodeString(s[2:])
	}
	return nil, fmt.Errorf("%q is neither hex nor base64", s)
}

// chapClient runs the initiator's side of one CHAP exchange.
type chapClient struct {
	c      *Chap
	round  int
	alg    uint8
	id     uint8  // the initiator's identifier, for mutual CHAP
	chal   []byte // the initiator's challenge, for mutual CHAP
	mutual bool
}

// next takes the target's answer in the security stage and returns the keys of the
// next request; done says the exchange is over (the target may move on).
func (cc *chapClient) next(kvs []iscsi.KV) (keys []iscsi.KV, done bool, err error) {
	got := map[string]string{}
	for _, kv := range kvs {
		got[kv.Key] = kv.Value
	}
	switch cc.round {
	case 0: // the answer to AuthMethod
		if got["AuthMethod"] != "CHAP" {
			return nil, false, fmt.Errorf("%w: AuthMethod=%q, want CHAP", ErrChapTarget, got["AuthMethod"])
		}
		offer := cc.c.Algorithms
		if len(offer) == 0 {
			offer = []uint8{8, 7, 6, 5}
		}
		var list []string
		for _, a := range offer {
			list = append(list, strconv.Itoa(int(a)))
		}
		keys = []iscsi.KV{{Key: "CHAP_A", Value: strings.Join(list, ",")}}
	case 1: // CHAP_A, CHAP_I, CHAP_C
		keys, err = cc.respond(got)
		if err != nil {
			return nil, false, err
		}
	case 2: // the mutual answer, if asked for
		cc.round++
		if cc.mutual {
			if err := cc.checkTarget(got); err != nil {
				return nil, false, err
			}
		}
		return nil, true, nil
	default:
		return nil, true, nil
	}
	cc.round++
	if cc.c.Tamper != nil {
		keys = cc.c.Tamper(cc.round, got, keys)
	}
	return keys, false, nil
}

// respond answers the target's challenge and, for mutual CHAP, adds the initiator's.
func (cc *chapClient) respond(got map[string]string) ([]iscsi.KV, error) {
	a, err := strconv.ParseUint(got["CHAP_A"], 10, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: CHAP_A=%q", ErrChapTarget, got["CHAP_A"])
	}
	id, err := strconv.ParseUint(got["CHAP_I"], 10, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: CHAP_I=%q", ErrChapTarget, got["CHAP_I"])
	}
	chal, err := chapBinary(got["CHAP_C"])
	if err != nil || len(chal) == 0 {
		return nil, fmt.Errorf("%w: CHAP_C=%q", ErrChapTarget, got["CHAP_C"])
	}
	cc.alg = uint8(a)
	r, ok := chapDigest(cc.alg, uint8(id), cc.c.Secret, chal)
	if !ok {
		return nil, fmt.Errorf("%w: unknown CHAP_A %d", ErrChapTarget, a)
	}
	keys := []iscsi.KV{{Key: "CHAP_N", Value: cc.c.User}, {Key: "CHAP_R", Value: "0x" + hex.EncodeToString(r)}}
	if cc.c.TargetSecret == nil {
		return keys, nil
	}
	cc.mutual = true
	cc.chal = make([]byte, 32)
	var b [1]byte
	if _, err := rand.Read(cc.chal); err != nil {
		return nil, err
	}
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	cc.id = b[0]
	return append(keys, iscsi.KV{Key: "CHAP_I", Value: strconv.Itoa(int(cc.id))},
		iscsi.KV{Key: "CHAP_C", Value: "0x" + hex.EncodeToString(cc.chal)}), nil
}

// checkTarget verifies the target's answer to the initiator's challenge.
func (cc *chapClient) checkTarget(got map[string]string) error {
	if got["CHAP_N"] != cc.c.TargetUser {
		return fmt.Errorf("%w: CHAP_N=%q, want %q", ErrChapTarget, got["CHAP_N"], cc.c.TargetUser)
	}
	r, err := chapBinary(got["CHAP_R"])
	if err != nil {
		return fmt.Errorf("%w: CHAP_R: %v", ErrChapTarget, err)
	}
	want, _ := chapDigest(cc.alg, cc.id, cc.c.TargetSecret, cc.chal)
	if subtle.ConstantTimeCompare(r, want) != 1 {
		return fmt.Errorf("%w: wrong CHAP_R", ErrChapTarget)
	}
	return nil
}
