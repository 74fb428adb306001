package login

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Known answers, computed with Python's hashlib (an implementation apart from Go's):
// H(id || secret || challenge) for each CHAP algorithm.
func TestChapResponseKnownAnswers(t *testing.T) {
	ff := bytes.Repeat([]byte{0xff}, 32)
	seq := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	tests := []struct {
		alg       ChapAlgorithm
		id        uint8
		secret    string
		challenge []byte
		want      string
	}{
		{ChapMD5, 42, "atgt-secret-12", seq, "461f4e0b3c3969b80418fd834bebc3d8"},
		{ChapSHA1, 42, "atgt-secret-12", seq, "de52945bdb8394c1065b3168c13d036158ac0351"},
		{ChapSHA256, 42, "atgt-secret-12", seq, "2180f9d73bf3fae3bf18157564f6022961802bc01702cbfacc648a3a0dd53445"},
		{ChapSHA3256, 42, "atgt-secret-12", seq, "6c002d896f8f071509a3951bf9d8f694d1ff24ab8ff4fee12455cfd1b70c51a9"},
		{ChapMD5, 0, "aaaaaaaaaaaa", ff, "123093786a06fbb66e6a5ae7555ff9c2"},
		{ChapSHA1, 0, "aaaaaaaaaaaa", ff, "abd76f7e249f19f40d4222f5a4beeecfea2e40b6"},
		{ChapSHA256, 0, "aaaaaaaaaaaa", ff, "ae17ef96162b985b9c7aab39f506e6dff630217fa6227e60bf2c8786cb8e8328"},
		{ChapSHA3256, 0, "aaaaaaaaaaaa", ff, "c6acfc59c6f77887f1b1dd36cc1f42b9311d41f6606837c48e394caa768e0c42"},
	}
	for _, tt := range tests {
		got := hex.EncodeToString(ChapResponse(tt.alg, tt.id, []byte(tt.secret), tt.challenge))
		if got != tt.want {
			t.Errorf("%v id %d: %s, want %s", tt.alg, tt.id, got, tt.want)
		}
		if len(got) != 2*tt.alg.Size() {
			t.Errorf("%v: Size %d, digest %d bytes", tt.alg, tt.alg.Size(), len(got)/2)
		}
	}
	if ChapResponse(9, 0, nil, nil) != nil || ChapAlgorithm(9).Size() != 0 {
		t.Fatal("unknown algorithm answered")
	}
}

func TestChapAlgorithmNames(t *testing.T) {
	for _, a := range DefaultChapAlgorithms {
		b, ok := ParseChapAlgorithm(a.String())
		if !ok || b != a {
			t.Errorf("%v does not round-trip", a)
		}
	}
	if _, ok := ParseChapAlgorithm("sha-256"); ok {
		t.Error("names are exact")
	}
	if got := fmt.Sprint(DefaultChapAlgorithms); got != "[SHA3-256 SHA-256 SHA-1 MD5]" {
		t.Errorf("default order %s", got)
	}
}

func TestDecodeChapBinary(t *testing.T) {
	long := "0x" + strings.Repeat("ab", maxChapBinary)
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"0x0102ff", []byte{1, 2, 0xff}, true},
		{"0XABcd", []byte{0xab, 0xcd}, true},
		{"0x102", []byte{1, 2}, true}, // odd digits: a leading zero nibble
		{"0b" + base64.StdEncoding.EncodeToString([]byte("hello")), []byte("hello"), true},
		{"0B" + base64.StdEncoding.EncodeToString([]byte{9}), []byte{9}, true},
		{long, bytes.Repeat([]byte{0xab}, maxChapBinary), true},
		{long + "cd", nil, false},
		{"0b" + base64.StdEncoding.EncodeToString(make([]byte, maxChapBinary+1)), nil, false},
		{"0x", nil, false},
		{"0b", nil, false},
		{"0xzz", nil, false},
		{"0x12 34", nil, false},
		{"0baGVsbG8", nil, false}, // no padding
		{"0b====", nil, false},
		{"1234", nil, false},
		{"x12", nil, false},
		{"", nil, false},
		{"0y12", nil, false},
	}
	for _, tt := range tests {
		got, ok := decodeChapBinary(tt.in)
		if ok != tt.ok || !bytes.Equal(got, tt.want) {
			t.Errorf("%.20q: %x %v, want %x %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := ChapCredential{User: "alice", Secret: Secret("topsecret-value")}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		if s := fmt.Sprintf(f, c); strings.Contains(s, "topsecret") || strings.Contains(s, hex.EncodeToString([]byte("topsecret"))) {
			t.Errorf("%s shows the secret: %s", f, s)
		}
		if s := fmt.Sprintf(f, &c); strings.Contains(s, "topsecret") {
			t.Errorf("%s of a pointer shows the secret: %s", f, s)
		}
	}
	p := ChapPolicy{Initiator: &c, Target: &c}
	if s := fmt.Sprintf("%+v %#v", p, p); strings.Contains(s, "topsecret") {
		t.Errorf("policy shows the secret: %s", s)
	}
}

func TestPickChapAlgorithm(t *testing.T) {
	tests := []struct {
		offer string
		prefs []ChapAlgorithm
		want  ChapAlgorithm
		ok    bool
	}{
		{"5,6,7,8", DefaultChapAlgorithms, ChapSHA3256, true}, // the target's order wins
		{"5", DefaultChapAlgorithms, ChapMD5, true},
		{"7,5", []ChapAlgorithm{ChapMD5, ChapSHA256}, ChapMD5, true},
		{"0x7", DefaultChapAlgorithms, ChapSHA256, true},
		{"8", []ChapAlgorithm{ChapMD5}, 0, false},
		{"x,,999,5", DefaultChapAlgorithms, ChapMD5, true},
		{"", DefaultChapAlgorithms, 0, false},
		{"None", DefaultChapAlgorithms, 0, false},
		{strings.Repeat("5,", 200), DefaultChapAlgorithms, 0, false},
	}
	for _, tt := range tests {
		got, ok := pickChapAlgorithm(tt.offer, tt.prefs)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%.20q %v: %v %v", tt.offer, tt.prefs, got, ok)
		}
	}
}

// A failing random source fails the login as the target's error, and a missing one
// too.
func TestChapRandomFailure(t *testing.T) {
	for name, r := range map[string]*ChapAuth{
		"error": {Targets: map[string]ChapPolicy{testTarget: oneWay()}, Rand: failRand{}},
		"nil":   {Targets: map[string]ChapPolicy{testTarget: oneWay()}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Auth = r
			m := NewMachine(cfg)
			m.Step(secReq(names("AuthMethod=CHAP")))
			if resp, _ := m.Step(secReq(text("CHAP_A=5"))); resp.Status() != TargetError {
				t.Fatalf("status %#x", resp.Status())
			}
		})
	}
}

type failRand struct{}

func (failRand) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// itoa is a test shorthand.
func itoa(v int) string { return strconv.Itoa(v) }
