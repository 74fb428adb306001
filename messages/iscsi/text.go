package iscsi

import (
	"bytes"
	"errors"
	"fmt"
)

// KV is one key=value pair of a Login or Text data segment (RFC 7143 section 6).
type KV struct {
	Key   string
	Value string
}

// Limits on text keys from RFC 7143 section 6.1: a key name is at most 63 bytes and a
// value at most 8192 bytes (255 for most keys, which the negotiation checks per key).
const (
	MaxKeyLength   = 63
	MaxValueLength = 8192
)

// ErrMalformedText reports a data segment that is not a sequence of key=value pairs.
var ErrMalformedText = errors.New("iscsi: malformed text key")

// ParseText splits a data segment of NUL-terminated key=value pairs. A final pair
// without its NUL is accepted (some initiators omit it); trailing NUL padding is ignored.
// It fails with ErrMalformedText on an empty key, a pair without '=', or a key or value
// longer than the RFC allows.
func ParseText(data []byte) ([]KV, error) {
	var kvs []KV
	for len(data) > 0 {
		var pair []byte
		if i := bytes.IndexByte(data, 0); i >= 0 {
			pair, data = data[:i], data[i+1:]
		} else {
			pair, data = data, nil
		}
		if len(pair) == 0 {
			continue // padding or a stray NUL
		}
		eq := bytes.IndexByte(pair, '=')
		if eq <= 0 {
			return kvs, fmt.Errorf("%w: %q has no key=value form", ErrMalformedText, clip(pair))
		}
		if eq > MaxKeyLength {
			return kvs, fmt.Errorf("%w: key of %d bytes exceeds %d", ErrMalformedText, eq, MaxKeyLength)
		}
		if len(pair)-eq-1 > MaxValueLength {
			return kvs, fmt.Errorf("%w: value of %q exceeds %d bytes", ErrMalformedText, pair[:eq], MaxValueLength)
		}
		kvs = append(kvs, KV{Key: string(pair[:eq]), Value: string(pair[eq+1:])})
	}
	return kvs, nil
}

// AppendText appends each pair as key=value followed by NUL.
func AppendText(dst []byte, kvs ...KV) []byte {
	for _, kv := range kvs {
		dst = append(dst, kv.Key...)
		dst = append(dst, '=')
		dst = append(dst, kv.Value...)
		dst = append(dst, 0)
	}
	return dst
}

func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
