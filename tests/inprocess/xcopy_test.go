package inprocess

import (
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// luNAA reads the NAA designator of lun from its Device Identification VPD page,
// which is what an EXTENDED COPY target descriptor names it by.
func luNAA(t *testing.T, s *initiator.Session, lun uint64) uint64 {
	t.Helper()
	r, err := s.Command(lun, []byte{scsi.OpInquiry, 0x01, 0x83, 0, 255, 0}, nil, 255)
	if err != nil || r.Status != 0 || len(r.Data) < 4 {
		t.Fatalf("INQUIRY VPD 83h lun %d: %+v %v", lun, r, err)
	}
	p := r.Data[4:min(len(r.Data), 4+int(binary.BigEndian.Uint16(r.Data[2:4])))]
	for len(p) >= 4 && len(p) >= 4+int(p[3]) {
		n := int(p[3])
		if p[0]&0x0F == 1 && p[1]&0x30 == 0 && p[1]&0x0F == 3 && n == 8 { // binary, LU, NAA
			return binary.BigEndian.Uint64(p[4:12])
		}
		p = p[4+n:]
	}
	t.Fatalf("lun %d has no NAA designator", lun)
	return 0
}

// xcopyCDBAndList is an EXTENDED COPY (LID1) with no list identifier that copies
// blocks blocks from srcLBA of the LU named by src to dstLBA of dst.
func xcopyCDBAndList(src, dst uint64, blocks uint16, srcLBA, dstLBA uint64) (cdb, list []byte) {
	ident := func(naa uint64) []byte {
		d := make([]byte, 32)
		d[0] = 0xE4                      // identification descriptor target descriptor
		d[4], d[5], d[7] = 0x01, 0x03, 8 // binary, LU, NAA, 8 bytes
		binary.BigEndian.PutUint64(d[8:16], naa)
		binary.BigEndian.PutUint16(d[30:32], blockSize) // (byte 29 is 0)
		return d
	}
	seg := make([]byte, 28)
	seg[0] = 0x02 // block to block
	binary.BigEndian.PutUint16(seg[2:4], 24)
	binary.BigEndian.PutUint16(seg[6:8], 1) // destination: the second descriptor
	binary.BigEndian.PutUint16(seg[10:12], blocks)
	binary.BigEndian.PutUint64(seg[12:20], srcLBA)
	binary.BigEndian.PutUint64(seg[20:28], dstLBA)
	list = make([]byte, 16)
	list[1] = 3 << 3 // LIST ID USAGE 11b: no list identifier
	binary.BigEndian.PutUint16(list[2:4], 64)
	binary.BigEndian.PutUint32(list[8:12], 28)
	list = append(append(append(list, ident(src)...), ident(dst)...), seg...)
	cdb = make([]byte, 16)
	cdb[0] = scsi.OpExtendedCopy
	binary.BigEndian.PutUint32(cdb[10:14], uint32(len(list)))
	return cdb, list
}

// xcopy sends an EXTENDED COPY to lun and returns the answer.
func xcopy(t *testing.T, s *initiator.Session, lun, src, dst uint64, blocks uint16, srcLBA, dstLBA uint64) *initiator.Result {
	t.Helper()
	cdb, list := xcopyCDBAndList(src, dst, blocks, srcLBA, dstLBA)
	r, err := s.Command(lun, cdb, list, 0)
	if err != nil {
		t.Fatalf("EXTENDED COPY to lun %d: %v", lun, err)
	}
	return r
}

// TestExtendedCopyAcrossLUNs: over iSCSI, EXTENDED COPY copies between the two LUNs
// of a target in either direction, whichever receives it. Once another initiator
// holds a WRITE EXCLUSIVE reservation on LUN 1, a copy sent to the unreserved LUN 0
// that writes LUN 1 ends COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE, and LUN 1
// keeps its data; under EXCLUSIVE ACCESS a copy that reads LUN 1 ends the same way.
func TestExtendedCopyAcrossLUNs(t *testing.T) {
	const (
		writeExclusive  = 1
		exclusiveAccess = 3
		keyB            = 0xbbbb
	)
	svc := start(t, fileAndMemoryConfig(t), nil)
	a := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(970)})
	b := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(971)})
	for _, s := range []*initiator.Session{a, b} {
		ready(t, s, 0)
		ready(t, s, 1)
	}
	naa0, naa1 := luNAA(t, a, 0), luNAA(t, a, 1)
	data := randomData(97, 64<<10)
	if r, err := a.Command(0, write16(0, 128), data, 0); err != nil || r.Status != 0 {
		t.Fatalf("write lun 0: %+v %v", r, err)
	}
	if r := xcopy(t, a, 0, naa0, naa1, 128, 0, 100); r.Status != 0 {
		t.Fatalf("copy LUN 0 -> LUN 1 sent to LUN 0: status %#x sense %x", r.Status, r.Sense)
	}
	mustReadBack(t, a, 1, 100, data)
	if r := xcopy(t, a, 1, naa1, naa0, 128, 100, 1000); r.Status != 0 {
		t.Fatalf("copy LUN 1 -> LUN 0 sent to LUN 1: status %#x sense %x", r.Status, r.Sense)
	}
	mustReadBack(t, a, 0, 1000, data)

	expectAborted := func(what string, r *initiator.Result) {
		t.Helper()
		if r.Status != scsi.StatusCheckCondition {
			t.Fatalf("%s: status %#x, want CHECK CONDITION", what, r.Status)
		}
		if k, asc, ascq, ok := scsi.ParseFixedSense(r.Sense); !ok || k != scsi.SenseCopyAborted || asc != 0x0D || ascq != 0x02 {
			t.Fatalf("%s: sense %x, want COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE", what, r.Sense)
		}
	}
	// The reservations are on LUN 1, whichever LUN receives the copy.
	prOut1 := func(what string, sa, typ uint8, key, saKey uint64) {
		t.Helper()
		cdb, params := prOut(sa, typ, key, saKey)
		r, err := b.Command(1, cdb, params, 0)
		if err != nil || r.Status != 0 {
			t.Fatalf("%s on LUN 1: %+v %v", what, r, err)
		}
	}
	prOut1("REGISTER", 0x00, 0, 0, keyB)
	prOut1("RESERVE WRITE EXCLUSIVE", 0x01, writeExclusive, keyB, 0)
	other := randomData(98, 64<<10)
	if r, err := a.Command(0, write16(2000, 128), other, 0); err != nil || r.Status != 0 {
		t.Fatalf("write lun 0: %+v %v", r, err)
	}
	expectAborted("copy to a LUN reserved WRITE EXCLUSIVE by another initiator", xcopy(t, a, 0, naa0, naa1, 128, 2000, 100))
	mustReadBack(t, a, 1, 100, data) // WRITE EXCLUSIVE lets a read

	prOut1("RELEASE", 0x02, writeExclusive, keyB, 0)
	prOut1("RESERVE EXCLUSIVE ACCESS", 0x01, exclusiveAccess, keyB, 0)
	expectAborted("copy from a LUN reserved EXCLUSIVE ACCESS by another initiator", xcopy(t, a, 0, naa1, naa0, 128, 100, 3000))
	mustReadBack(t, a, 0, 3000, make([]byte, 64<<10))
}

// TestExtendedCopyHonoursDestinationWCE: LUN 1 has its write cache off (MODE SELECT
// WCE=0), so a write to it is stable before GOOD, and its initiator never flushes
// it. An EXTENDED COPY sent to LUN 0 (WCE=1) that writes LUN 1 must write it the
// same way; before the copy went through LUN 1's actor it used LUN 0's cache mode
// (a scsidev review's finding).
func TestExtendedCopyHonoursDestinationWCE(t *testing.T) {
	var c backend.Counters
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Backend: "memory", SizeBytes: lunSize})
	svc := start(t, cfg, func(_ string, lun uint64, b backend.Backend) backend.Backend {
		if lun == 1 {
			return backend.WithCounters(b, &c)
		}
		return b
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1703)})
	ready(t, s, 0)
	ready(t, s, 1)
	if err := s.ModeSelectWCE(1, false); err != nil {
		t.Fatal(err)
	}
	writes, stable, syncs := c.Writes.Load(), c.StableWrites.Load(), c.Syncs.Load()
	if r := xcopy(t, s, 0, luNAA(t, s, 0), luNAA(t, s, 1), 8, 0, 0); r.Status != 0 {
		t.Fatalf("copy LUN 0 -> LUN 1: status %#x sense %x", r.Status, r.Sense)
	}
	writes, stable, syncs = c.Writes.Load()-writes, c.StableWrites.Load()-stable, c.Syncs.Load()-syncs
	if writes == 0 || (stable < writes && syncs == 0) {
		t.Fatalf("EXTENDED COPY into a WCE=0 LUN: %d writes, %d stable, %d syncs before GOOD", writes, stable, syncs)
	}
}
