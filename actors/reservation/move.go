package reservation

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// registerAndMove runs REGISTER AND MOVE (SPC-4 5.13.8): the holder
// registers another I_T nexus, named by a TransportID, and hands it the
// reservation. param is at least 24 bytes, cut to the parameter list
// length.
func (t *Table) registerAndMove(n Nexus, param []byte) Outcome {
	key := binary.BigEndian.Uint64(param[0:8])
	saKey := binary.BigEndian.Uint64(param[8:16])
	unreg := param[17]&0x02 != 0
	apt := param[17]&0x01 != 0
	rtp := binary.BigEndian.Uint16(param[18:20])
	tidLen := binary.BigEndian.Uint32(param[20:24])
	if uint64(tidLen) > uint64(len(param)-basicParamLen) {
		return checkCondition(scsi.ParameterListLengthError())
	}
	if t.registered(n, key) == nil {
		return conflict()
	}
	// Only the holder of a reservation that has a single holder can
	// move it.
	if t.res == nil || allRegistrants(t.res.typ) || t.res.holder != n.ID {
		return conflict()
	}
	if saKey == 0 {
		return checkCondition(scsi.InvalidFieldInParamList(paramServiceActionKeyOff, -1))
	}
	if rtp == 0 {
		return checkCondition(scsi.InvalidFieldInParamList(18, -1))
	}
	dest, ok := parseTransportID(param[basicParamLen : basicParamLen+int(tidLen)])
	if ok {
		dest = t.identOf(dest, rtp)
	}
	if !ok || dest == n.ID {
		return checkCondition(scsi.InvalidFieldInParamList(basicParamLen, -1))
	}
	wasAPTPL := t.aptpl
	if t.find(dest) == nil {
		if len(t.regs) >= MaxRegistrations {
			return checkCondition(insufficientRegistrationResources())
		}
		t.regs = append(t.regs, &registration{nexus: dest, key: saKey, rtp: rtp})
	}
	t.res.holder = dest
	if unreg {
		t.remove(n.ID) // no longer the holder: nothing is released
	}
	t.aptpl = apt
	t.generation++
	out := good(nil)
	if wasAPTPL || t.aptpl {
		out.Persist = t.snapshot()
	}
	return out
}
