package login

import (
	"strconv"
	"strings"
)

// Special response values of RFC 7143 section 6.
const (
	valReject        = "Reject"
	valIrrelevant    = "Irrelevant"
	valNotUnderstood = "NotUnderstood"
	valYes           = "Yes"
	valNo            = "No"
	valNone          = "None"
)

// maxSimpleValue is the longest value RFC 7143 section 6.1 allows for most keys.
const maxSimpleValue = 255

// parseNumber reads a numerical value: decimal or 0x/0X hex (RFC 7143 section 6.1).
func parseNumber(s string) (uint64, bool) {
	if s == "" || len(s) > maxSimpleValue {
		return 0, false
	}
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return 0, false
		}
		return v, true
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// parseRange reads a number and checks it lies in [lo, hi].
func parseRange(s string, lo, hi uint32) (uint32, bool) {
	v, ok := parseNumber(s)
	if !ok || v < uint64(lo) || v > uint64(hi) {
		return 0, false
	}
	return uint32(v), true
}

// parseBool reads exactly "Yes" or "No".
func parseBool(s string) (bool, bool) {
	switch s {
	case valYes:
		return true, true
	case valNo:
		return false, true
	}
	return false, false
}

func formatBool(b bool) string {
	if b {
		return valYes
	}
	return valNo
}

func formatNumber(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// selectFromList picks the first of the offered comma-separated values that the target
// accepts: the responder honours the originator's order (RFC 7143 section 6.2).
func selectFromList(offer string, accepted []string) (string, bool) {
	if offer == "" || len(offer) > maxSimpleValue {
		return "", false
	}
	for _, v := range strings.Split(offer, ",") {
		for _, a := range accepted {
			if v == a {
				return v, true
			}
		}
	}
	return "", false
}
