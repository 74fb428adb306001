package login

import (
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// FuzzLoginKeys feeds arbitrary text to the Machine in three shapes (straight to
// operational, security then operational, and split by continuation) and checks it
// never panics and always answers something an initiator can parse.
func FuzzLoginKeys(f *testing.F) {
	f.Add(text(libiscsiKeys...))
	f.Add(names("AuthMethod=CHAP,None"))
	f.Add([]byte("InitiatorName=iqn.x\x00SessionType=Discovery\x00"))
	f.Add([]byte("=\x00\x00junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(resp *Response, done bool) {
			if resp == nil {
				t.Fatal("nil response")
			}
			if len(resp.Data) > maxLoginSegment || resp.Continue && resp.Transit {
				t.Fatalf("response of %d bytes, C=%v T=%v", len(resp.Data), resp.Continue, resp.Transit)
			}
			if resp.Continue {
				return // a part of a longer answer: it may end inside a key
			}
			if _, err := iscsi.ParseText(resp.Data); err != nil {
				t.Fatalf("unparsable response %q: %v", resp.Data, err)
			}
			replyMap(t, resp)
			if done && (!resp.Transit || resp.NSG != StageFullFeature || resp.Status() != StatusSuccess) {
				t.Fatalf("done with %+v", resp)
			}
			if resp.Transit && resp.NSG <= resp.CSG {
				t.Fatalf("bad transit %+v", resp)
			}
		}
		checkParams := func(m *Machine) {
			p := m.Result().Params
			if p.FirstBurstLength > p.MaxBurstLength || p.MaxRecvDataSegmentLength < 512 || p.MaxConnections < 1 ||
				p.MaxOutstandingR2T < 1 || p.ErrorRecoveryLevel > 2 || p.DefaultTime2Wait > 3600 {
				t.Fatalf("params out of range: %+v", p)
			}
		}

		m := NewMachine(testConfig())
		check(m.Step(opReq(data)))
		checkParams(m)

		m = NewMachine(testConfig())
		resp, done := m.Step(secReq(data))
		check(resp, done)
		if resp.Status() == StatusSuccess {
			check(m.Step(opReq(data))) // repeats are errors, but never panics
			checkParams(m)
		}

		m = NewMachine(testConfig())
		half := opReq(data[:len(data)/2])
		half.Transit, half.Continue = false, true
		check(m.Step(half))
		check(m.Step(opReq(data[len(data)/2:])))
		checkParams(m)
	})
}
