package target

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Target names and aliases, checked beyond validName: atgt chooses its targets'
// names, so they must be iSCSI names as RFC 3720 section 3.2.6.3 and RFC 3722
// define them. Initiator names in access lists keep validName's looser check: they
// must match whatever an initiator sends.

// maxAlias is the longest TargetAlias: a text value of at most 255 bytes (RFC 7143
// section 6.1).
const maxAlias = 255

// validTargetName checks an iqn., eui. or naa. name. An iqn. name is "iqn.",
// a date yyyy-mm, ".", a reversed domain name and optionally ":" and a string of
// lower-case letters, digits, '-', '.' and ':' (non-ASCII letters allowed if not upper
// case). Upper case is refused, not folded: RFC 3722's stringprep maps it to lower
// case, so initiators may send either, and folding it here would change the name
// (and the NAA identifiers and state files derived from it) of a target initiators
// already know. eui. takes 16 hex digits, naa. 16 or 32 (either case, as RFC 3720's
// examples write them).
func validTargetName(s string) error {
	if err := validName(s); err != nil {
		return err
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not UTF-8", s)
	}
	kind, rest := s[:4], s[4:]
	switch kind {
	case "eui.":
		if len(rest) != 16 || !isHex(rest) {
			return fmt.Errorf("%q: an eui. name is \"eui.\" and 16 hex digits (RFC 3720 3.2.6.3.2)", s)
		}
		return nil
	case "naa.":
		if (len(rest) != 16 && len(rest) != 32) || !isHex(rest) {
			return fmt.Errorf("%q: an naa. name is \"naa.\" and 16 or 32 hex digits (RFC 3980)", s)
		}
		return nil
	}
	const form = "an iqn. name is iqn.yyyy-mm.reversed.domain[:any-string] (RFC 3720 3.2.6.3.1)"
	if len(rest) < 8 || rest[4] != '-' || rest[7] != '.' || !isDigits(rest[:4]) || !isDigits(rest[5:7]) ||
		rest[5:7] < "01" || rest[5:7] > "12" {
		return fmt.Errorf("%q: %s", s, form)
	}
	authority, suffix, _ := strings.Cut(rest[8:], ":")
	for _, label := range strings.Split(authority, ".") {
		if label == "" {
			return fmt.Errorf("%q: an empty label in the domain name; %s", s, form)
		}
	}
	for _, part := range []string{authority, suffix} {
		for _, r := range part {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == ':':
			case unicode.IsUpper(r):
				return fmt.Errorf("%q has upper case: iSCSI names compare in lower case (RFC 3722 stringprep); write %q",
					s, strings.ToLower(s))
			case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
			default:
				return fmt.Errorf("%q contains %q: an iSCSI name has only letters, digits, '-', '.' and ':' (RFC 3720 3.2.6.2)", s, r)
			}
		}
	}
	return nil
}

// badAlias says what is wrong with a target alias, or "". It is sent as the
// TargetAlias key of the first Login Response, where a NUL would end the key and
// start another of the config author's choosing.
func badAlias(a string) string {
	switch {
	case len(a) > maxAlias:
		return fmt.Sprintf("longer than %d bytes", maxAlias)
	case !utf8.ValidString(a):
		return "not UTF-8"
	}
	for _, r := range a {
		if r < ' ' || r == 0x7f {
			return "contains a control character (NUL, newline...)"
		}
	}
	return ""
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
