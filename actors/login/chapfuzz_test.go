package login

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// fuzzChallenge is the challenge the target sends for alg with countRand from 0x10:
// the identifier is 0x10 and the challenge the bytes after it.
func fuzzChallenge(alg ChapAlgorithm) challenge {
	c := challenge{alg: alg, id: 0x10}
	for i := range alg.Size() {
		c.data = append(c.data, byte(0x11+i))
	}
	return c
}

// FuzzChapExchange runs AuthMethod=CHAP against a target with mutual CHAP, then the
// fuzzer's CHAP_A request and its response request. It checks that the target never
// panics, always answers parseable text, never shows a secret, and lets the
// initiator past the security stage only with the right name and response.
func FuzzChapExchange(f *testing.F) {
	for _, alg := range []ChapAlgorithm{ChapMD5, ChapSHA1, ChapSHA256, ChapSHA3256} {
		c := fuzzChallenge(alg)
		a := text("CHAP_A=" + itoa(int(alg)))
		f.Add(a, text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret)))
		f.Add(a, text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret), "CHAP_I=7", "CHAP_C=0x00112233"))
		f.Add(a, text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret), "CHAP_I=16", "CHAP_C=0x"+hex.EncodeToString(c.data)))
	}
	f.Add(text("CHAP_A=5,6,7,8"), text("CHAP_N="+chapUser, "CHAP_R=0b"))
	f.Add(text("CHAP_A=1,2"), text("CHAP_R=0x00"))
	f.Add([]byte("CHAP_A\x00"), []byte("=\x00"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		m := NewMachine(chapConfig(mutual()))
		check := func(resp *Response) {
			t.Helper()
			if resp == nil {
				t.Fatal("nil response")
			}
			replyMap(t, resp)
			if bytes.Contains(resp.Data, []byte(chapSecret)) || bytes.Contains(resp.Data, []byte(chapTargetSecret)) {
				t.Fatalf("a secret in the response: %q", resp.Data)
			}
			if resp.Status() != StatusSuccess && resp.Transit {
				t.Fatalf("failure with transit: %+v", resp)
			}
		}
		resp, _ := m.Step(secReq(names("AuthMethod=CHAP")))
		check(resp)
		req := secReq(first)
		req.Transit = false
		resp, _ = m.Step(req)
		check(resp)
		if resp.Status() != StatusSuccess {
			return
		}
		alg, _ := parseNumber(replyMap(t, resp)["CHAP_A"])
		resp, _ = m.Step(secReq(second))
		check(resp)
		if resp.Status() != StatusSuccess || !resp.Transit {
			return
		}
		// Past the security stage: the second request must have proved the secret.
		kvs, err := iscsi.ParseText(second)
		if err != nil {
			t.Fatalf("authenticated by unparsable text %q", second)
		}
		var name, r string
		for _, kv := range kvs {
			switch kv.Key {
			case "CHAP_N":
				name = kv.Value
			case "CHAP_R":
				r = kv.Value
			}
		}
		got, ok := decodeChapBinary(r)
		c := fuzzChallenge(ChapAlgorithm(alg))
		want := ChapResponse(c.alg, c.id, []byte(chapSecret), c.data)
		if name != chapUser || !ok || subtle.ConstantTimeCompare(got, want) != 1 {
			t.Fatalf("authenticated with CHAP_N=%q CHAP_R=%q", name, r)
		}
	})
}
