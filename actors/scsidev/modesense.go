package scsidev

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// Device-specific parameter bits of the mode parameter header (SBC-3
// 6.4.1).
const (
	dspWP     = 0x80
	dspDPOFUA = 0x10
)

// modeSense implements MODE SENSE 6/10 (SPC-4 6.11, 6.12).
func (d *Device) modeSense(cdb []byte) (Result, error) {
	is6 := cdb[0] == scsi.OpModeSense6
	dbd := cdb[1]&0x08 != 0
	llbaa := !is6 && cdb[1]&0x10 != 0
	pc := cdb[2] >> 6
	code := cdb[2] & 0x3F
	sub := cdb[3]
	var alloc uint32
	if is6 {
		alloc = uint32(cdb[4])
	} else {
		alloc = uint32(binary.BigEndian.Uint16(cdb[7:9]))
	}
	if pc == pcSaved && !d.cfg.SaveModes {
		return Result{}, scsi.SavingParametersNotSupported()
	}
	if sub != 0x00 && sub != 0xFF {
		return Result{}, scsi.InvalidFieldInCDB(3, -1)
	}
	var pages []byte
	if code == 0x3F {
		for i := range modePages {
			pages = append(pages, modePages[i].build(d, pc)...)
		}
	} else {
		p, ok := findModePage(code)
		if !ok {
			return Result{}, scsi.InvalidFieldInCDB(2, 5)
		}
		pages = p.build(d, pc)
	}

	var bd []byte
	if !dbd {
		bd = d.blockDescriptor(llbaa, pc == pcChangeable)
	}
	var dsp byte = dspDPOFUA
	if _, wp := d.writeProtected(); wp {
		dsp |= dspWP
	}

	var b []byte
	if is6 {
		b = make([]byte, 4, 4+len(bd)+len(pages))
		b[2] = dsp
		b[3] = byte(len(bd))
	} else {
		b = make([]byte, 8, 8+len(bd)+len(pages))
		b[3] = dsp
		if llbaa && len(bd) == 16 {
			b[4] = 0x01
		}
		binary.BigEndian.PutUint16(b[6:8], uint16(len(bd)))
	}
	b = append(b, bd...)
	b = append(b, pages...)
	if is6 {
		b[0] = byte(len(b) - 1)
	} else {
		binary.BigEndian.PutUint16(b[0:2], uint16(len(b)-2))
	}
	return good(truncate(b, alloc)), nil
}

// blockDescriptor returns the short (8 byte) or long (16 byte) block
// descriptor; its fields are not changeable, so the changeable form is
// all zero.
func (d *Device) blockDescriptor(long, changeable bool) []byte {
	if long {
		b := make([]byte, 16)
		if !changeable {
			binary.BigEndian.PutUint64(b[0:8], d.cfg.Blocks)
			binary.BigEndian.PutUint32(b[12:16], d.cfg.BlockSize)
		}
		return b
	}
	b := make([]byte, 8)
	if !changeable {
		n := d.cfg.Blocks
		if n > 0xFFFFFFFF {
			n = 0xFFFFFFFF
		}
		binary.BigEndian.PutUint32(b[0:4], uint32(n))
		b[5] = byte(d.cfg.BlockSize >> 16)
		b[6] = byte(d.cfg.BlockSize >> 8)
		b[7] = byte(d.cfg.BlockSize)
	}
	return b
}
