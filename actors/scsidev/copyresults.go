package scsidev

import (
	"encoding/binary"
	"errors"

	"github.com/atgt/atgt/messages/scsi"
)

// copyStatus is the COPY MANAGER STATUS of RECEIVE COPY STATUS (SPC-4 6.18.3).
type copyStatus uint8

const (
	copyRunning copyStatus = 0x00
	copyGood    copyStatus = 0x01
	copyFailed  copyStatus = 0x02
)

// copyState is what the device holds about one EXTENDED COPY of a nexus.
type copyState struct {
	status copyStatus
	// segs are the segments planned; processed of them were copied, and
	// written bytes reached a destination, once the copy ended.
	segs      []CopySegment
	processed int
	written   int64
	// hold is false for LIST ID USAGE 10b: the list identifier is only
	// checked for uniqueness while the copy runs, and nothing is reported.
	hold bool
	// seq orders the held statuses of a nexus, to drop the oldest first.
	seq uint64
}

// holdCopy registers a running copy of nexus under listID.
func (d *Device) holdCopy(nexus string, listID byte, hold bool, segs []CopySegment) *copyState {
	m := d.copies[nexus]
	if m == nil {
		m = make(map[byte]*copyState)
		d.copies[nexus] = m
	}
	if len(m) >= maxHeldCopies {
		var oldest byte
		var seq uint64
		found := false
		for id, st := range m {
			if st.status != copyRunning && (!found || st.seq < seq) {
				oldest, seq, found = id, st.seq, true
			}
		}
		if found {
			delete(m, oldest)
		}
	}
	st := &copyState{status: copyRunning, segs: segs, hold: hold, seq: d.nextToken + 1}
	m[listID] = st
	return st
}

// copyDone makes a copy's status final: failure is nil for a copy that ended
// GOOD, else what it ended with. A copy that holds no status is forgotten.
func (d *Device) copyDone(p pendingIO, failure error) {
	st := p.copy
	if st == nil {
		return
	}
	if failure != nil {
		st.status = copyFailed
		st.processed, st.written = copyProgress(st.segs, failure)
	} else {
		st.status = copyGood
		st.processed = len(st.segs)
		for _, s := range st.segs {
			st.written += s.Length
		}
	}
	if !st.hold {
		for id, s := range d.copies[p.nexus] {
			if s == st {
				delete(d.copies[p.nexus], id)
			}
		}
	}
}

// copyProgress reads how far a failed copy of segs got from the COPY ABORTED it
// ended with (SPC-5 5.17.7.4): the segment that failed, whose number is in
// COMMAND-SPECIFIC INFORMATION, follows those processed; what of it reached the
// destination is its length less the residual in INFORMATION (destination
// blocks), if VALID. A copy that ended otherwise (aborted by task management)
// reports nothing processed.
func copyProgress(segs []CopySegment, failure error) (processed int, written int64) {
	se, ok := errors.AsType[*scsi.SenseError](failure)
	if !ok || se.Key != scsi.SenseCopyAborted {
		return 0, 0
	}
	processed = min(int(se.CmdInfo&0xFFFF), len(segs))
	for _, s := range segs[:processed] {
		written += s.Length
	}
	if se.InfoValid && processed < len(segs) {
		s := segs[processed]
		written += max(0, s.Length-int64(se.Info)*int64(max(s.DstBlockSize, 1)))
	}
	return processed, written
}

// receiveCopyResults implements RECEIVE COPY RESULTS (LID1) (SPC-4 6.18):
// COPY STATUS of a copy of this nexus, and OPERATING PARAMETERS.
func (d *Device) receiveCopyResults(cdb []byte, nexus string) (Result, error) {
	alloc := binary.BigEndian.Uint32(cdb[10:14])
	switch cdb[1] & 0x1F {
	case scsi.SAOperatingParameters:
		return good(truncate(d.copyOperatingParameters(), alloc)), nil
	case scsi.SACopyStatusLID1:
		st := d.copies[nexus][cdb[2]]
		if st == nil || !st.hold {
			return Result{}, scsi.InvalidFieldInCDB(2, -1)
		}
		if st.status != copyRunning {
			// A finished copy's status is reported once, then discarded.
			delete(d.copies[nexus], cdb[2])
		}
		return good(truncate(copyStatusData(st), alloc)), nil
	}
	return Result{}, scsi.InvalidFieldInCDB(1, 4)
}

// copyStatusData is the COPY STATUS parameter data (SPC-4 6.18.3): status,
// segments processed and the bytes written to the destinations, in the smallest
// unit that fits 32 bits; a failed copy reports how far it got, a running one
// nothing yet.
func copyStatusData(st *copyState) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b[0:4], 8)
	b[4] = byte(st.status)
	n := st.written
	binary.BigEndian.PutUint16(b[5:7], uint16(st.processed))
	unit := byte(0)
	for n > 0xFFFFFFFF {
		n >>= 10
		unit++
	}
	b[7] = unit
	binary.BigEndian.PutUint32(b[8:12], uint32(n))
	return b
}

// copyOperatingParameters is the OPERATING PARAMETERS parameter data (SPC-4
// 6.18.4): the limits extendedCopy enforces and the two descriptor types it
// implements.
func (d *Device) copyOperatingParameters() []byte {
	impl := []byte{segBlockToBlock, targetIdentDesc}
	b := make([]byte, 44+len(impl))
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)-4))
	b[4] = 0x01 // SNLID: LIST ID USAGE 11b (no list identifier) is supported
	binary.BigEndian.PutUint16(b[8:10], maxTargetDescriptors)
	binary.BigEndian.PutUint16(b[10:12], maxSegmentDescs)
	binary.BigEndian.PutUint32(b[12:16], maxDescListBytes)
	binary.BigEndian.PutUint32(b[16:20], uint32(min(uint64(maxSegmentBlocks)*uint64(d.cfg.BlockSize), 0xFFFFFFFF)))
	// MAXIMUM INLINE DATA LENGTH, HELD DATA LIMIT and MAXIMUM STREAM DEVICE
	// TRANSFER SIZE stay 0: no inline data, no held data, no streams.
	binary.BigEndian.PutUint16(b[34:36], maxHeldCopies) // TOTAL CONCURRENT COPIES
	b[36] = maxHeldCopies                               // MAXIMUM CONCURRENT COPIES
	b[37] = log2(d.cfg.BlockSize)                       // DATA SEGMENT GRANULARITY: one block
	b[43] = byte(len(impl))
	copy(b[44:], impl)
	return b
}

// log2 of a power of two.
func log2(v uint32) byte {
	var n byte
	for v > 1 {
		v >>= 1
		n++
	}
	return n
}
