package login

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

const (
	chapUser         = "client-user"
	chapSecret       = "initiator-secret-1"
	chapTargetUser   = "target-user"
	chapTargetSecret = "target-secret-22"
)

// countRand is a deterministic random source: 0x10, 0x11, 0x12, ...
type countRand struct{ next byte }

func (r *countRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

func oneWay() ChapPolicy {
	return ChapPolicy{Initiator: &ChapCredential{User: chapUser, Secret: Secret(chapSecret)}}
}

func mutual() ChapPolicy {
	p := oneWay()
	p.Target = &ChapCredential{User: chapTargetUser, Secret: Secret(chapTargetSecret)}
	return p
}

// chapConfig is testConfig with CHAP policy p on testTarget and on discovery.
func chapConfig(p ChapPolicy) Config {
	cfg := testConfig()
	cfg.Auth = &ChapAuth{Discovery: p, Targets: map[string]ChapPolicy{testTarget: p}, Rand: &countRand{next: 0x10}}
	return cfg
}

// challenge is what the target sent with CHAP_A.
type challenge struct {
	alg  ChapAlgorithm
	id   uint8
	data []byte
}

// startChap runs AuthMethod and CHAP_A (offer) on m and returns the target's challenge.
func startChap(t *testing.T, m *Machine, first []byte, offer string) challenge {
	t.Helper()
	req := secReq(first)
	resp, _ := m.Step(req)
	if r := replyMap(t, resp); resp.Status() != StatusSuccess || resp.Transit || r["AuthMethod"] != "CHAP" {
		t.Fatalf("AuthMethod answer %+v %v", resp, r)
	}
	a := secReq(text("CHAP_A=" + offer))
	a.Transit = false // as libiscsi sends it
	resp, _ = m.Step(a)
	r := replyMap(t, resp)
	if resp.Status() != StatusSuccess || resp.Transit {
		t.Fatalf("CHAP_A answer %+v %v", resp, r)
	}
	alg, ok1 := parseNumber(r["CHAP_A"])
	id, ok2 := parseNumber(r["CHAP_I"])
	data, ok3 := decodeChapBinary(r["CHAP_C"])
	if !ok1 || !ok2 || !ok3 || id > 255 || !strings.HasPrefix(r["CHAP_C"], "0x") {
		t.Fatalf("challenge %v", r)
	}
	c := challenge{alg: ChapAlgorithm(alg), id: uint8(id), data: data}
	if len(c.data) != c.alg.Size() {
		t.Fatalf("challenge of %d bytes for %v", len(c.data), c.alg)
	}
	return c
}

// answer is the correct CHAP_R for c.
func (c challenge) answer(secret string) string {
	return "0x" + hex.EncodeToString(ChapResponse(c.alg, c.id, []byte(secret), c.data))
}

func TestChapOneWayEachAlgorithm(t *testing.T) {
	for _, alg := range []ChapAlgorithm{ChapMD5, ChapSHA1, ChapSHA256, ChapSHA3256} {
		t.Run(alg.String(), func(t *testing.T) {
			m := NewMachine(chapConfig(oneWay()))
			c := startChap(t, m, names("AuthMethod=CHAP,None"), itoa(int(alg)))
			if c.alg != alg {
				t.Fatalf("chose %v", c.alg)
			}
			resp, done := m.Step(secReq(text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret))))
			if resp.Status() != StatusSuccess || done || !resp.Transit || resp.NSG != StageOperational || len(resp.Data) != 0 {
				t.Fatalf("response answer %+v", resp)
			}
			if resp, done = m.Step(opReq(nil)); !done || resp.Status() != StatusSuccess {
				t.Fatalf("operational %+v", resp)
			}
			if got, want := fmt.Sprint(m.Result().Auth), fmt.Sprint([]iscsi.KV{{Key: "AuthMethod", Value: "CHAP"},
				{Key: "CHAP_A", Value: itoa(int(alg))}}); got != want {
				t.Fatalf("Result().Auth %s, want %s", got, want)
			}
		})
	}
}

func TestChapMutual(t *testing.T) {
	for _, alg := range []ChapAlgorithm{ChapMD5, ChapSHA1, ChapSHA256, ChapSHA3256} {
		t.Run(alg.String(), func(t *testing.T) {
			m := NewMachine(chapConfig(mutual()))
			c := startChap(t, m, names("AuthMethod=CHAP"), "8,7,6,5"[strings.Index("8,7,6,5", itoa(int(alg))):])
			if c.alg != alg {
				t.Fatalf("chose %v", c.alg)
			}
			mine := []byte("a challenge of the initiator's own, 40 bytes.")
			resp, _ := m.Step(secReq(text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret),
				"CHAP_I=200", "CHAP_C=0b"+base64.StdEncoding.EncodeToString(mine))))
			r := replyMap(t, resp)
			want := "0x" + hex.EncodeToString(ChapResponse(alg, 200, []byte(chapTargetSecret), mine))
			if resp.Status() != StatusSuccess || !resp.Transit || r["CHAP_N"] != chapTargetUser || r["CHAP_R"] != want {
				t.Fatalf("mutual answer %+v %v, want CHAP_R=%s", resp, r, want)
			}
			if got, want := fmt.Sprint(m.Result().Auth), fmt.Sprint([]iscsi.KV{{Key: "AuthMethod", Value: "CHAP"},
				{Key: "CHAP_A", Value: itoa(int(alg))}, {Key: "Mutual", Value: "Yes"}}); got != want {
				t.Fatalf("Result().Auth %s, want %s", got, want)
			}
		})
	}
}

// The target picks the first of its algorithms that the initiator offers.
func TestChapAlgorithmPreference(t *testing.T) {
	p := oneWay()
	m := NewMachine(chapConfig(p))
	if c := startChap(t, m, names("AuthMethod=CHAP"), "5,6,7,8"); c.alg != ChapSHA3256 {
		t.Fatalf("default preference chose %v", c.alg)
	}
	p.Algorithms = []ChapAlgorithm{ChapSHA1, ChapMD5}
	m = NewMachine(chapConfig(p))
	if c := startChap(t, m, names("AuthMethod=CHAP"), "8,7,5,6"); c.alg != ChapSHA1 {
		t.Fatalf("configured preference chose %v", c.alg)
	}
	m = NewMachine(chapConfig(p))
	startStep, _ := m.Step(secReq(names("AuthMethod=CHAP")))
	if startStep.Status() != StatusSuccess {
		t.Fatal(startStep.Status())
	}
	resp, _ := m.Step(secReq(text("CHAP_A=8,7")))
	if r := replyMap(t, resp); resp.Status() != AuthFailure || r["CHAP_A"] != "Reject" {
		t.Fatalf("no common algorithm: %+v %v", resp, r)
	}
}

// Where CHAP is configured None is neither offered nor accepted; elsewhere None works.
func TestChapNoneRefused(t *testing.T) {
	cfg := testConfig()
	cfg.Auth = &ChapAuth{Targets: map[string]ChapPolicy{testTarget: oneWay()}, Rand: &countRand{}}
	for name, req := range map[string]*Request{
		"None only":         secReq(names("AuthMethod=None")),
		"skip security":     opReq(names()),
		"security, no auth": secReq(names()),
	} {
		m := NewMachine(cfg)
		if resp, _ := m.Step(req); resp.Status() != AuthFailure {
			t.Errorf("%s: status %#x", name, resp.Status())
		}
	}
	// discovery has no policy here: None
	m := NewMachine(cfg)
	resp, done := m.Step(opReq(text("InitiatorName="+testInitiator, "SessionType=Discovery")))
	if !done || resp.Status() != StatusSuccess {
		t.Fatalf("discovery without CHAP: %+v", resp)
	}
	m = NewMachine(cfg)
	resp, _ = m.Step(secReq(text("InitiatorName="+testInitiator, "SessionType=Discovery", "AuthMethod=CHAP,None")))
	if r := replyMap(t, resp); r["AuthMethod"] != "None" {
		t.Fatalf("discovery offered %v", r)
	}
}

func TestChapDiscovery(t *testing.T) {
	cfg := testConfig()
	cfg.Auth = &ChapAuth{Discovery: mutual(), Rand: &countRand{}}
	disc := text("InitiatorName="+testInitiator, "SessionType=Discovery", "AuthMethod=CHAP")
	m := NewMachine(cfg)
	c := startChap(t, m, disc, "6")
	resp, _ := m.Step(secReq(text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret))))
	if resp.Status() != StatusSuccess || !resp.Transit {
		t.Fatalf("discovery CHAP %+v", resp)
	}
	m = NewMachine(cfg)
	if resp, _ := m.Step(opReq(text("InitiatorName="+testInitiator, "SessionType=Discovery"))); resp.Status() != AuthFailure {
		t.Fatalf("discovery without CHAP: %#x", resp.Status())
	}
	// the target itself needs none
	m = NewMachine(cfg)
	if resp, done := m.Step(opReq(names())); !done || resp.Status() != StatusSuccess {
		t.Fatalf("target without CHAP: %+v", resp)
	}
}

// Hostile initiators: every case ends in a login failure (authentication failure,
// or initiator error where the Machine's own rules catch it first), never a panic.
func TestChapHostile(t *testing.T) {
	good := func(c challenge) []string { return []string{"CHAP_N=" + chapUser, "CHAP_R=" + c.answer(chapSecret)} }
	with := func(extra ...string) func(challenge) []string {
		return func(c challenge) []string { return append(good(c), extra...) }
	}
	tests := []struct {
		name string
		keys func(c challenge) []string
		want Status
	}{
		{"wrong secret", func(c challenge) []string {
			return []string{"CHAP_N=" + chapUser, "CHAP_R=" + c.answer("not-the-secret-1")}
		}, AuthFailure},
		{"wrong user", func(c challenge) []string {
			return []string{"CHAP_N=someone-else", "CHAP_R=" + c.answer(chapSecret)}
		}, AuthFailure},
		{"target secret", func(c challenge) []string {
			return []string{"CHAP_N=" + chapUser, "CHAP_R=" + c.answer(chapTargetSecret)}
		}, AuthFailure},
		{"response for another id", func(c challenge) []string {
			c.id++
			return []string{"CHAP_N=" + chapUser, "CHAP_R=" + c.answer(chapSecret)}
		}, AuthFailure},
		{"no CHAP_N", func(c challenge) []string { return []string{"CHAP_R=" + c.answer(chapSecret)} }, AuthFailure},
		{"no CHAP_R", func(c challenge) []string { return []string{"CHAP_N=" + chapUser} }, AuthFailure},
		{"nothing", func(c challenge) []string { return nil }, AuthFailure},
		{"short CHAP_R", func(c challenge) []string {
			return []string{"CHAP_N=" + chapUser, "CHAP_R=" + c.answer(chapSecret)[:10]}
		}, AuthFailure},
		{"CHAP_R with trailing byte", func(c challenge) []string {
			return []string{"CHAP_N=" + chapUser, "CHAP_R=" + c.answer(chapSecret) + "00"}
		}, AuthFailure},
		{"overlong CHAP_R", func(c challenge) []string {
			return []string{"CHAP_N=" + chapUser, "CHAP_R=0x" + strings.Repeat("ab", 1025)}
		}, AuthFailure},
		{"decimal CHAP_R", func(c challenge) []string { return []string{"CHAP_N=" + chapUser, "CHAP_R=12345"} }, AuthFailure},
		{"malformed hex CHAP_R", func(c challenge) []string { return []string{"CHAP_N=" + chapUser, "CHAP_R=0xg1"} }, AuthFailure},
		{"malformed base64 CHAP_R", func(c challenge) []string { return []string{"CHAP_N=" + chapUser, "CHAP_R=0b!!!!"} }, AuthFailure},
		{"empty CHAP_R", func(c challenge) []string { return []string{"CHAP_N=" + chapUser, "CHAP_R="} }, AuthFailure},
		{"CHAP_I without CHAP_C", with("CHAP_I=1"), AuthFailure},
		{"CHAP_C without CHAP_I", with("CHAP_C=0x0102030405060708"), AuthFailure},
		{"CHAP_I 256", with("CHAP_I=256", "CHAP_C=0x0102030405060708"), AuthFailure},
		{"CHAP_I negative", with("CHAP_I=-1", "CHAP_C=0x0102030405060708"), AuthFailure},
		{"CHAP_I not a number", with("CHAP_I=one", "CHAP_C=0x0102030405060708"), AuthFailure},
		{"CHAP_I huge", with("CHAP_I=0x1ffffffffffffffff", "CHAP_C=0x0102030405060708"), AuthFailure},
		{"malformed CHAP_C", with("CHAP_I=1", "CHAP_C=0xnothex"), AuthFailure},
		{"empty CHAP_C", with("CHAP_I=1", "CHAP_C=0x"), AuthFailure},
		{"overlong CHAP_C", with("CHAP_I=1", "CHAP_C=0x"+strings.Repeat("cd", 1025)), AuthFailure},
		{"reflected challenge", func(c challenge) []string {
			return with("CHAP_I="+itoa(int(c.id)), "CHAP_C=0x"+hex.EncodeToString(c.data))(c)
		}, AuthFailure},
		{"reflected challenge, other id, base64", func(c challenge) []string {
			return with("CHAP_I="+itoa(int(c.id)+1), "CHAP_C=0b"+base64.StdEncoding.EncodeToString(c.data))(c)
		}, AuthFailure},
		{"foreign key in the exchange", with("SRP_U=x"), AuthFailure},
		{"CHAP_A repeated", with("CHAP_A=5"), InitiatorError},
		{"CHAP_N twice", func(c challenge) []string { return append(good(c), "CHAP_N="+chapUser) }, InitiatorError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(chapConfig(mutual()))
			c := startChap(t, m, names("AuthMethod=CHAP"), "7")
			resp, done := m.Step(secReq(text(tt.keys(c)...)))
			if resp.Status() != tt.want || done || resp.Transit {
				t.Fatalf("status %#x done %v transit %v, want %#x", resp.Status(), done, resp.Transit, tt.want)
			}
			if r := replyMap(t, resp); r["CHAP_R"] != "" || r["CHAP_N"] != "" {
				t.Fatalf("the target answered for itself after a failure: %v", r)
			}
			if again, _ := m.Step(secReq(text(good(c)...))); again.Status() == StatusSuccess {
				t.Fatal("a failed exchange recovered")
			}
		})
	}
}

// Mutual CHAP asked of a target that has no mutual credential fails.
func TestChapMutualNotConfigured(t *testing.T) {
	m := NewMachine(chapConfig(oneWay()))
	c := startChap(t, m, names("AuthMethod=CHAP"), "5")
	resp, _ := m.Step(secReq(text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret), "CHAP_I=1", "CHAP_C=0x0102")))
	if resp.Status() != AuthFailure {
		t.Fatalf("status %#x", resp.Status())
	}
}

// Keys out of order: a response before the challenge, the algorithm with the
// response, CHAP in the operational stage, CHAP keys after the exchange.
func TestChapOutOfOrder(t *testing.T) {
	cfg := chapConfig(oneWay())
	fail := func(name string, want Status, reqs ...*Request) {
		t.Helper()
		m := NewMachine(cfg)
		var resp *Response
		for i, r := range reqs {
			resp, _ = m.Step(r)
			if i < len(reqs)-1 && resp.Status() != StatusSuccess {
				t.Errorf("%s: request %d failed early: %#x", name, i, resp.Status())
				return
			}
		}
		if resp.Status() != want {
			t.Errorf("%s: status %#x, want %#x", name, resp.Status(), want)
		}
	}
	fail("response before CHAP_A", AuthFailure,
		secReq(names("AuthMethod=CHAP")), secReq(text("CHAP_N="+chapUser, "CHAP_R=0x00")))
	fail("CHAP_A with the response", AuthFailure,
		secReq(names("AuthMethod=CHAP")), secReq(text("CHAP_A=5", "CHAP_N="+chapUser, "CHAP_R=0x00")))
	fail("empty request instead of CHAP_A", AuthFailure,
		secReq(names("AuthMethod=CHAP")), secReq(nil))
	fail("CHAP in the operational stage", InitiatorError, opReq(names("CHAP_A=5")))
	fail("CHAP_A in the AuthMethod request, then no response", AuthFailure,
		secReq(names("AuthMethod=CHAP", "CHAP_A=5")), secReq(nil))

	// A complete exchange, then CHAP keys in the operational stage.
	m := NewMachine(cfg)
	c := startChap(t, m, names("AuthMethod=CHAP"), "5")
	if resp, _ := m.Step(secReq(text("CHAP_N="+chapUser, "CHAP_R="+c.answer(chapSecret)))); resp.Status() != StatusSuccess {
		t.Fatalf("exchange %#x", resp.Status())
	}
	if resp, _ := m.Step(opReq(text("CHAP_I=1", "CHAP_C=0x0102"))); resp.Status() == StatusSuccess {
		t.Fatal("CHAP keys accepted in the operational stage")
	}
	// Asking to skip to full feature phase before the exchange ends stays in security.
	m = NewMachine(cfg)
	req := secReq(names("AuthMethod=CHAP"))
	req.NSG = StageFullFeature
	if resp, done := m.Step(req); done || resp.Transit || resp.Status() != StatusSuccess {
		t.Fatalf("transit before CHAP: %+v", resp)
	}
}

// A base64 response, an upper-case hex prefix and a hex CHAP_I are values too.
func TestChapEncodings(t *testing.T) {
	m := NewMachine(chapConfig(mutual()))
	c := startChap(t, m, names("AuthMethod=CHAP"), "8")
	r := ChapResponse(c.alg, c.id, []byte(chapSecret), c.data)
	resp, _ := m.Step(secReq(text("CHAP_N="+chapUser, "CHAP_R=0b"+base64.StdEncoding.EncodeToString(r),
		"CHAP_I=0xff", "CHAP_C=0X0A0B0C0D0E0F1011")))
	if resp.Status() != StatusSuccess {
		t.Fatalf("status %#x", resp.Status())
	}
	want := "0x" + hex.EncodeToString(ChapResponse(c.alg, 255, []byte(chapTargetSecret), []byte{10, 11, 12, 13, 14, 15, 16, 17}))
	if got := replyMap(t, resp)["CHAP_R"]; got != want {
		t.Fatalf("CHAP_R %s, want %s", got, want)
	}
}
