package scsidev

import (
	"encoding/binary"
	"math/bits"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// modeSelect implements MODE SELECT 6/10 (SPC-4 6.9, 6.10). Pages must be
// sent whole, with only the changeable bits (WCE, SWP) differing from the
// current values; anything else is INVALID FIELD IN PARAMETER LIST and
// nothing is applied. With SP=1 (allowed only when Config.SaveModes) the
// new WCE bit is also saved: the result plans an IO_KIND_SAVE_MODE_PAGES IO
// with the state to make durable before GOOD, and the new values take effect
// only when it succeeded (IODone); SWP is never saved. Turning WCE off also
// syncs the medium before GOOD (an IO_KIND_SYNC plan, or a stable
// SAVE_MODE_PAGES one), so that no write acknowledged under WCE=1 stays cached.
// A change raises MODE PARAMETERS CHANGED on the other I_T nexuses, since these
// pages are shared by all of them.
func (d *Device) modeSelect(cdb []byte, r *Request) (Result, error) {
	is6 := cdb[0] == scsi.OpModeSelect6
	save := cdb[1]&0x01 != 0
	if save && !d.cfg.SaveModes {
		return Result{}, scsi.InvalidFieldInCDB(1, 0)
	}
	var plen, hdr int
	if is6 {
		plen, hdr = int(cdb[4]), 4
	} else {
		plen, hdr = int(binary.BigEndian.Uint16(cdb[7:9])), 8
	}
	if plen == 0 {
		return good(nil), nil
	}
	if len(r.DataOut) < plen || plen < hdr {
		return Result{}, scsi.ParameterListLengthError()
	}
	data := r.DataOut[:plen]

	var bdLen, bdLenOff int
	long := false
	if is6 {
		bdLen, bdLenOff = int(data[3]), 3
	} else {
		bdLen, bdLenOff = int(binary.BigEndian.Uint16(data[6:8])), 6
		long = data[4]&0x01 != 0
	}
	if hdr+bdLen > plen {
		return Result{}, scsi.ParameterListLengthError()
	}
	if err := d.checkBlockDescriptor(data[hdr:hdr+bdLen], hdr, bdLenOff, long); err != nil {
		return Result{}, err
	}

	wce, swp := d.wce, d.swp
	for off := hdr + bdLen; off < plen; {
		if off+2 > plen {
			return Result{}, scsi.ParameterListLengthError()
		}
		if data[off]&0x40 != 0 { // SPF: no subpages are implemented
			return Result{}, scsi.InvalidFieldInParamList(off, 6)
		}
		code := data[off] & 0x3F
		end := off + 2 + int(data[off+1])
		if end > plen {
			return Result{}, scsi.ParameterListLengthError()
		}
		p, ok := findModePage(code)
		if !ok {
			return Result{}, scsi.InvalidFieldInParamList(off, 5)
		}
		cur := p.build(d, pcCurrent)
		mask := p.build(d, pcChangeable)
		if end-off != len(cur) {
			return Result{}, scsi.InvalidFieldInParamList(off+1, -1)
		}
		got := data[off:end]
		for i := 2; i < len(cur); i++ {
			if diff := (got[i] ^ cur[i]) &^ mask[i]; diff != 0 {
				return Result{}, scsi.InvalidFieldInParamList(off+i, bits.Len8(diff)-1)
			}
		}
		switch code {
		case 0x08:
			wce = got[2]&0x04 != 0
		case 0x0A:
			swp = got[4]&0x08 != 0
		}
		off = end
	}
	// Turning the write cache off flushes it, as a drive does: from now on the
	// initiator sends no SYNCHRONIZE CACHE, so writes it was told are cached
	// must be on the medium before GOOD. (After a failed SANITIZE the medium
	// takes no IO, and holds nothing worth keeping.)
	flush := d.wce && !wce && !d.sanitizeFailed
	if !save {
		d.applyModes(r.Nexus, wce, swp)
		res := good(nil)
		if flush {
			res.IO = IO{Kind: pb.IoKind_IO_KIND_SYNC, Length: int64(d.cfg.Blocks) * int64(d.cfg.BlockSize), Stable: true}
		}
		return res, nil
	}
	// SP=1: nothing changes until the save is durable (IODone); a save that
	// fails leaves the old current and saved values in force.
	d.saveSeq = max(d.saveSeq, d.saved.Seq) + 1
	st := SavedModes{Seq: d.saveSeq, WriteCache: wce}
	token := d.track(pendingIO{kind: pb.IoKind_IO_KIND_SAVE_MODE_PAGES, nexus: r.Nexus,
		modes: &modeChange{wce: wce, swp: swp, saved: st}})
	return Result{Status: scsi.StatusGood, IO: IO{Kind: pb.IoKind_IO_KIND_SAVE_MODE_PAGES, Data: st.Marshal(), Token: token, Stable: flush}}, nil
}

// modeChange is what a MODE SELECT with SP=1 applies once its save is durable.
type modeChange struct {
	wce, swp bool
	saved    SavedModes
}

// applyModes makes wce and swp the current values; a change raises MODE
// PARAMETERS CHANGED on the I_T nexuses other than the one that made it.
func (d *Device) applyModes(nexus string, wce, swp bool) {
	if wce != d.wce || swp != d.swp {
		d.wce, d.swp = wce, swp
		d.addUnitAttentionOthers(nexus, scsi.ModeParametersChanged())
	}
}

// modesSaved applies a MODE SELECT with SP=1 whose save ended: only if it
// succeeded, and a save older than the one in force never replaces it.
func (d *Device) modesSaved(nexus string, c *modeChange, ok bool) {
	if !ok || c == nil {
		return
	}
	d.applyModes(nexus, c.wce, c.swp)
	if c.saved.Seq > d.saved.Seq {
		d.saved = c.saved
	}
}

// checkBlockDescriptor accepts an absent block descriptor or one that
// keeps the block length (0 meaning unchanged): changing the logical block
// length is not implemented. at is the descriptor's offset in the list.
func (d *Device) checkBlockDescriptor(bd []byte, at, lenOff int, long bool) error {
	var bl uint32
	switch {
	case len(bd) == 0:
		return nil
	case len(bd) == 8 && !long:
		bl = uint32(bd[5])<<16 | uint32(bd[6])<<8 | uint32(bd[7])
		at += 5
	case len(bd) == 16 && long:
		bl = binary.BigEndian.Uint32(bd[12:16])
		at += 12
	default:
		return scsi.InvalidFieldInParamList(lenOff, -1)
	}
	if bl != 0 && bl != d.cfg.BlockSize {
		return scsi.InvalidFieldInParamList(at, -1)
	}
	return nil
}
