package main

import (
	"strings"
	"testing"
)

// -pprof and -metrics refuse a non-loopback address (":0" and 0.0.0.0 included)
// unless -expose; before, -pprof 0.0.0.0:6060 served profiles to the network.
func TestListenLocal(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		ln, err := listenLocal("-pprof", addr, false)
		if err == nil {
			ln.Close()
			t.Errorf("%s served without -expose", addr)
			continue
		}
		if !strings.Contains(err.Error(), "-expose") || !strings.Contains(err.Error(), "-pprof") {
			t.Errorf("%s: %v, want the flag and -expose named", addr, err)
		}
	}
	for _, tc := range []struct {
		addr   string
		expose bool
	}{{"127.0.0.1:0", false}, {"localhost:0", false}, {"0.0.0.0:0", true}} {
		ln, err := listenLocal("-metrics", tc.addr, tc.expose)
		if err != nil {
			t.Errorf("%s (expose %v): %v", tc.addr, tc.expose, err)
			continue
		}
		ln.Close()
	}
}
