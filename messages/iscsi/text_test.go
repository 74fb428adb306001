package iscsi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []KV
		err  bool
	}{
		{"empty", "", nil, false},
		{"one pair", "HeaderDigest=None\x00", []KV{{"HeaderDigest", "None"}}, false},
		{"two pairs, padding", "A=1\x00B=x=y\x00\x00\x00", []KV{{"A", "1"}, {"B", "x=y"}}, false},
		{"missing final NUL", "A=1\x00B=2", []KV{{"A", "1"}, {"B", "2"}}, false},
		{"empty value", "A=\x00", []KV{{"A", ""}}, false},
		{"no equals", "A\x00", nil, true},
		{"empty key", "=1\x00", nil, true},
		{"key too long", strings.Repeat("k", 64) + "=1\x00", nil, true},
		{"longest key", strings.Repeat("k", 63) + "=1\x00", []KV{{strings.Repeat("k", 63), "1"}}, false},
		{"value too long", "A=" + strings.Repeat("v", 8193), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseText([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrMalformedText) {
					t.Fatalf("err = %v, want ErrMalformedText", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAppendText(t *testing.T) {
	got := string(AppendText([]byte("X"), KV{"A", "1"}, KV{"B", ""}))
	if want := "XA=1\x00B=\x00"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
