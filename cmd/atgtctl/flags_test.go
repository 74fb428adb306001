package main

import (
	"bytes"
	"slices"
	"testing"
)

// TestParseSize: plain bytes and binary suffixes; anything else refused.
func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"4096", 4096, true}, {"1K", 1 << 10, true}, {"512m", 512 << 20, true},
		{"10G", 10 << 30, true}, {"10GiB", 10 << 30, true}, {"10GB", 10 << 30, true}, {"2T", 2 << 40, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"", 0, false}, {"G", 0, false}, {"1.5G", 0, false}, {"-1", 0, false}, {"10X", 0, false},
		{"1B", 0, false}, {"5I", 0, false}, {"16777216T", 0, false}, {"18446744073709551616", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestParseInterleaved: flags may come before or after the positional arguments,
// and the count of those is checked.
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		npos  int
		pos   []string
		grace uint
		ok    bool
	}{
		{[]string{"5"}, 1, []string{"5"}, 0, true},
		{[]string{"5", "-grace", "3"}, 1, []string{"5"}, 3, true},
		{[]string{"-grace", "3", "5"}, 1, []string{"5"}, 3, true},
		{[]string{"--grace=3", "5"}, 1, []string{"5"}, 3, true},
		{[]string{}, 1, nil, 0, false},
		{[]string{"5", "6"}, 1, nil, 0, false},
		{[]string{"5", "-nope"}, 1, nil, 0, false},
	} {
		f := newFlags(&env{out: &bytes.Buffer{}}, "session logout", "TSIH [-grace S]")
		grace := f.Uint("grace", 0, "")
		pos, err := f.parse(tc.args, tc.npos)
		if (err == nil) != tc.ok || (tc.ok && (!slices.Equal(pos, tc.pos) || *grace != tc.grace)) {
			t.Errorf("parse(%q) = %q grace %d, %v; want %q grace %d ok %v", tc.args, pos, *grace, err, tc.pos, tc.grace, tc.ok)
		}
	}
}
