package initiator

import (
	"strconv"

	"github.com/atgt/atgt/messages/iscsi"
)

// Params are the operational values in force after login, from the initiator's side:
// what it may send (MaxXmitDataSegmentLength, bursts) and how.
type Params struct {
	HeaderDigest, DataDigest  bool
	ImmediateData, InitialR2T bool
	// MaxRecvDataSegmentLength is what the initiator declared (the target sends at most this).
	MaxRecvDataSegmentLength uint32
	// MaxXmitDataSegmentLength is the target's declaration (the initiator sends at most this).
	MaxXmitDataSegmentLength         uint32
	MaxBurstLength, FirstBurstLength uint32
	MaxOutstandingR2T                uint32
	TargetPortalGroupTag             uint32
	TSIH                             uint16
	// Keys holds every key the target sent during login, last value wins.
	Keys map[string]string
}

// defaultParams are the RFC 7143 defaults, in force for keys the target does not answer.
func defaultParams(o Options) Params {
	return Params{
		InitialR2T:               true,
		ImmediateData:            true,
		MaxRecvDataSegmentLength: o.MaxRecvDataSegmentLength,
		MaxXmitDataSegmentLength: 8192,
		MaxBurstLength:           262144,
		FirstBurstLength:         65536,
		MaxOutstandingR2T:        1,
		Keys:                     map[string]string{},
	}
}

// offer lists the login keys of o for the operational stage.
func offer(o Options) []iscsi.KV {
	digest := func(on bool) string {
		if on {
			return "CRC32C"
		}
		return "None"
	}
	yesNo := func(b bool) string {
		if b {
			return "Yes"
		}
		return "No"
	}
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	kvs := []iscsi.KV{
		{Key: "HeaderDigest", Value: digest(o.HeaderDigest)},
		{Key: "DataDigest", Value: digest(o.DataDigest)},
		{Key: "MaxRecvDataSegmentLength", Value: u(o.MaxRecvDataSegmentLength)},
	}
	if o.Discovery || o.TSIH != 0 {
		// A connection of an existing session negotiates no Leading Only key (RFC
		// 7143 6.3).
		return append(kvs, o.ExtraKeys...)
	}
	kvs = append(kvs,
		iscsi.KV{Key: "InitialR2T", Value: yesNo(*o.InitialR2T)},
		iscsi.KV{Key: "ImmediateData", Value: yesNo(*o.ImmediateData)},
		iscsi.KV{Key: "MaxBurstLength", Value: u(o.MaxBurstLength)},
		iscsi.KV{Key: "FirstBurstLength", Value: u(o.FirstBurstLength)},
		iscsi.KV{Key: "MaxOutstandingR2T", Value: u(o.MaxOutstandingR2T)},
		iscsi.KV{Key: "MaxConnections", Value: "1"},
		iscsi.KV{Key: "DataPDUInOrder", Value: "Yes"},
		iscsi.KV{Key: "DataSequenceInOrder", Value: "Yes"},
		iscsi.KV{Key: "ErrorRecoveryLevel", Value: "0"},
		iscsi.KV{Key: "DefaultTime2Wait", Value: "0"},
		iscsi.KV{Key: "DefaultTime2Retain", Value: "0"},
	)
	return append(kvs, o.ExtraKeys...)
}

// apply records the target's answers. Values that are not numbers or Yes/No
// (Reject, NotUnderstood, Irrelevant) leave the defaults in force.
func (p *Params) apply(kvs []iscsi.KV) {
	for _, kv := range kvs {
		p.Keys[kv.Key] = kv.Value
		n, err := strconv.ParseUint(kv.Value, 10, 32)
		num := err == nil
		switch kv.Key {
		case "HeaderDigest":
			p.HeaderDigest = kv.Value == "CRC32C"
		case "DataDigest":
			p.DataDigest = kv.Value == "CRC32C"
		case "ImmediateData":
			if kv.Value == "Yes" || kv.Value == "No" {
				p.ImmediateData = kv.Value == "Yes"
			}
		case "InitialR2T":
			if kv.Value == "Yes" || kv.Value == "No" {
				p.InitialR2T = kv.Value == "Yes"
			}
		case "MaxRecvDataSegmentLength":
			if num && n >= 512 {
				p.MaxXmitDataSegmentLength = uint32(n)
			}
		case "MaxBurstLength":
			if num && n >= 512 {
				p.MaxBurstLength = uint32(n)
			}
		case "FirstBurstLength":
			if num && n >= 512 {
				p.FirstBurstLength = uint32(n)
			}
		case "MaxOutstandingR2T":
			if num && n >= 1 {
				p.MaxOutstandingR2T = uint32(n)
			}
		case "TargetPortalGroupTag":
			if num {
				p.TargetPortalGroupTag = uint32(n)
			}
		}
	}
}
