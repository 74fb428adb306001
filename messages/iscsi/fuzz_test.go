package iscsi

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzReadPDU feeds arbitrary bytes to Reader.Read with every digest setting: it must
// never panic, never return more data than the limit, and whatever it accepts must
// survive a marshal/read round trip.
func FuzzReadPDU(f *testing.F) {
	login := &PDU{Data: AppendText(nil, KV{"InitiatorName", "iqn.2024-01.org.example:host"}, KV{"SessionType", "Normal"})}
	login.BHS.SetOpcode(OpLoginReq)
	login.BHS.SetImmediate(true)
	login.BHS.SetFlags(0x87)
	login.BHS.SetITT(1)
	f.Add(MarshalPDU(login, false, false))
	f.Add(MarshalPDU(login, true, true))
	f.Add(append(MarshalPDU(samplePDU(OpSCSICmd, 5, 8), false, false), MarshalPDU(samplePDU(OpDataOut, 7, 0), false, false)...))
	f.Add(MarshalPDU(samplePDU(OpNopOut, 0, 0), true, false)[:30])

	const limit = 8192
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, d := range []struct{ hd, dd bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			lim := Limits{MaxRecvDataSegmentLength: limit, HeaderDigest: d.hd, DataDigest: d.dd}
			r := NewReader(bytes.NewReader(in), 0)
			for i := 0; i < 64; i++ {
				var p PDU
				err := r.Read(lim, &p)
				if cap(p.Data) > limit || cap(p.AHS) > maxAHSLength {
					t.Fatalf("allocated data %d ahs %d", cap(p.Data), cap(p.AHS))
				}
				if err != nil {
					break
				}
				_ = p.String()
				var back PDU
				if err := NewReader(bytes.NewReader(MarshalPDU(&p, d.hd, d.dd)), 0).Read(lim, &back); err != nil {
					t.Fatalf("re-read of %v: %v", &p, err)
				}
				if back.BHS != p.BHS || !bytes.Equal(back.Data, p.Data) || !bytes.Equal(back.AHS, p.AHS) {
					t.Fatalf("round trip: %v != %v", &back, &p)
				}
			}
		}
	})
}

// FuzzParseText checks that ParseText never panics, that what it accepts obeys the RFC
// limits, and that AppendText of its result parses back to the same pairs.
func FuzzParseText(f *testing.F) {
	f.Add([]byte("InitiatorName=iqn.1994-05.com.redhat:abc\x00SessionType=Normal\x00"))
	f.Add([]byte("HeaderDigest=None\x00\x00\x00"))
	f.Add([]byte("noequals\x00"))
	f.Add([]byte("=value\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		kvs, err := ParseText(in)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if kv.Key == "" || len(kv.Key) > MaxKeyLength || len(kv.Value) > MaxValueLength ||
				bytes.ContainsAny([]byte(kv.Key), "=\x00") || bytes.IndexByte([]byte(kv.Value), 0) >= 0 {
				t.Fatalf("bad pair %q", kv)
			}
		}
		again, err := ParseText(AppendText(nil, kvs...))
		if err != nil || !reflect.DeepEqual(again, kvs) {
			t.Fatalf("round trip: %q %v, want %q", again, err, kvs)
		}
	})
}
