package login

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// ChapAlgorithm is a CHAP digest by its number in the IANA PPP Authentication
// Algorithms registry, the value of the CHAP_A key (RFC 7143 section 12.1.3).
type ChapAlgorithm uint8

// The CHAP algorithms the target supports.
const (
	ChapMD5     ChapAlgorithm = 5
	ChapSHA1    ChapAlgorithm = 6
	ChapSHA256  ChapAlgorithm = 7
	ChapSHA3256 ChapAlgorithm = 8
)

// DefaultChapAlgorithms is the target's preference when the config names none: the
// strongest first.
var DefaultChapAlgorithms = []ChapAlgorithm{ChapSHA3256, ChapSHA256, ChapSHA1, ChapMD5}

// chapNames are the config names of the algorithms.
var chapNames = map[ChapAlgorithm]string{
	ChapMD5: "MD5", ChapSHA1: "SHA-1", ChapSHA256: "SHA-256", ChapSHA3256: "SHA3-256",
}

// ChapAlgorithmNames lists the accepted config names, for error messages.
const ChapAlgorithmNames = "SHA3-256, SHA-256, SHA-1 or MD5"

// ParseChapAlgorithm reads a config name: "SHA3-256", "SHA-256", "SHA-1" or "MD5".
func ParseChapAlgorithm(name string) (ChapAlgorithm, bool) {
	for a, n := range chapNames {
		if n == name {
			return a, true
		}
	}
	return 0, false
}

// String is the config name, or the number of an unknown algorithm.
func (a ChapAlgorithm) String() string {
	if n, ok := chapNames[a]; ok {
		return n
	}
	return fmt.Sprintf("CHAP_A %d", uint8(a))
}

// Size is the digest length in bytes (0 for an unknown algorithm): the length of a
// response, and of the challenges the target sends.
func (a ChapAlgorithm) Size() int {
	switch a {
	case ChapMD5:
		return md5.Size
	case ChapSHA1:
		return sha1.Size
	case ChapSHA256, ChapSHA3256:
		return 32
	}
	return 0
}

// ChapResponse computes a CHAP response (RFC 1994 section 4.1): the digest of the
// identifier, the secret and the challenge, in that order. It returns nil for an
// unknown algorithm.
func ChapResponse(a ChapAlgorithm, id uint8, secret, challenge []byte) []byte {
	msg := make([]byte, 0, 1+len(secret)+len(challenge))
	msg = append(append(append(msg, id), secret...), challenge...)
	defer clear(msg)
	switch a {
	case ChapMD5:
		d := md5.Sum(msg)
		return d[:]
	case ChapSHA1:
		d := sha1.Sum(msg)
		return d[:]
	case ChapSHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case ChapSHA3256:
		d := sha3.Sum256(msg)
		return d[:]
	}
	return nil
}

// maxChapBinary is the longest binary value (CHAP_C, CHAP_R) the target decodes, far
// above any digest; a longer one fails the login before it is decoded.
const maxChapBinary = 1024

// decodeChapBinary reads a binary value in hex ("0x" or "0X", an odd digit count
// meaning a leading zero nibble) or base64 ("0b" or "0B", RFC 4648 with padding),
// RFC 7143 section 6.1. Anything else, an empty value, or one longer than
// maxChapBinary bytes, is not a value.
func decodeChapBinary(s string) ([]byte, bool) {
	if len(s) < 3 || s[0] != '0' {
		return nil, false
	}
	body := s[2:]
	switch s[1] {
	case 'x', 'X':
		if len(body) > 2*maxChapBinary {
			return nil, false
		}
		if len(body)%2 == 1 {
			body = "0" + body
		}
		b, err := hex.DecodeString(body)
		if err != nil {
			return nil, false
		}
		return b, true
	case 'b', 'B':
		if len(body) > base64.StdEncoding.EncodedLen(maxChapBinary) {
			return nil, false
		}
		b, err := base64.StdEncoding.Strict().DecodeString(body)
		if err != nil || len(b) == 0 || len(b) > maxChapBinary {
			return nil, false
		}
		return b, true
	}
	return nil, false
}

// encodeChapBinary is the hex form the target sends: "0x" and lower-case digits, which
// every initiator reads (libiscsi reads no other).
func encodeChapBinary(b []byte) string { return "0x" + hex.EncodeToString(b) }

// Secret is a CHAP secret. It prints as "[redacted]" with every fmt verb, so that a
// log line or an error that shows a credential never shows its secret.
type Secret []byte

// Format writes "[redacted]" whatever the verb.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }

// String is "[redacted]".
func (Secret) String() string { return "[redacted]" }

// GoString is "[redacted]".
func (Secret) GoString() string { return "[redacted]" }

// MarshalText is "[redacted]", for encoders that use it (JSON, slog).
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// ChapCredential is a CHAP name and the secret that goes with it.
type ChapCredential struct {
	User   string
	Secret Secret
}

// ChapPolicy is the CHAP a target (or discovery) requires. Initiator nil means no
// CHAP: AuthMethod None. Target, when set, is what the target answers an initiator
// that asks it to prove itself (mutual CHAP); an initiator that does not ask gets
// one-way CHAP. Algorithms is the target's preference (nil: DefaultChapAlgorithms).
type ChapPolicy struct {
	Initiator  *ChapCredential
	Target     *ChapCredential
	Algorithms []ChapAlgorithm
}

// algorithms is the preference list in force.
func (p ChapPolicy) algorithms() []ChapAlgorithm {
	if len(p.Algorithms) == 0 {
		return DefaultChapAlgorithms
	}
	return p.Algorithms
}

// pickChapAlgorithm returns the first of the target's algorithms that the
// initiator's CHAP_A list offers. Entries that are not numbers are skipped.
func pickChapAlgorithm(offer string, prefs []ChapAlgorithm) (ChapAlgorithm, bool) {
	if offer == "" || len(offer) > maxSimpleValue {
		return 0, false
	}
	offered := map[ChapAlgorithm]bool{}
	for _, v := range strings.Split(offer, ",") {
		if n, ok := parseNumber(v); ok && n <= 255 {
			offered[ChapAlgorithm(n)] = true
		}
	}
	for _, a := range prefs {
		if offered[a] {
			return a, true
		}
	}
	return 0, false
}
