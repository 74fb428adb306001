package cmdphase

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// TestScripts runs the transcripts in testdata/scripts: each reads like the RFC, a request
// in and what the target does out. `go test ./actors/cmdphase -rewrite` writes the
// current outputs back into the files (review the diff before committing).
//
// Commands (sizes take K and M suffixes; cmdsn defaults to the next in sequence):
//
//	login [depth=N] [cmdsn=N] [immediate-data=no] [initial-r2t=yes] [first-burst=N]
//	      [max-burst=N] [max-seg=N] [max-r2t=N] [max-task=N] [max-buffered=N] [discovery]
//	      [target-reset=allowed|WHY] (WHY: the target refuses target resets so)
//	cmd itt=N read|write edtl=N [imm=N] [nofinal] [op=NAME] [lun=N] [lunraw=HEX]
//	    [attr=N] [immediate] [cmdsn=N] [ahs=HEX] [copy]
//	dataout itt=N [ttt=N] off=N len=N [datasn=N] [final] [copy]
//	complete itt=N [status=good|check|busy] [data=N] [transfer=N] [pooled] [detached]
//	tmf itt=N fn=NAME [ref=N] [refcmdsn=N] [lun=N] [immediate] [cmdsn=N]
//	tmfdone itt=N [response=N] [fanout=N]
//	aborted-by-other [lun=N | all] [exp=N]
//	nop itt=N [immediate] [len=N] | nop-reply ttt=N | logout itt=N [reason=N]
//	text itt=N [keys=K=V[;K=V...]] [raw=TEXT] [len=N] [ttt=N] [cont] [nofinal] [final] [lun=N]
//	pdu opcode=HEX itt=N
//	digest-error itt=N [op=dataout|cmd|nop] [immediate] [cmdsn=N] [ttt=N datasn=N off=N len=N final]
//	tick t=DURATION | session hold|release | closed | buffers | request-logout within=DURATION
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		var h *harness
		var nextCmdSN uint32
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "login" && h == nil {
				d.Fatalf(t, "login first")
			}
			if h != nil {
				h.out.Reset()
			}
			a := args(t, d)
			cmdSN := func(immediate bool) uint32 {
				if a.has("cmdsn") {
					return a.u32("cmdsn", 0)
				}
				if immediate {
					return nextCmdSN
				}
				nextCmdSN++
				return nextCmdSN - 1
			}
			switch d.Cmd {
			case "login":
				cfg := defaultConfig()
				p := &cfg.Login.Params
				cfg.QueueDepth = a.u32("depth", cfg.QueueDepth)
				p.ImmediateData = a.str("immediate-data", "yes") == "yes"
				p.InitialR2T = a.str("initial-r2t", "no") == "yes"
				p.FirstBurstLength = a.u32("first-burst", p.FirstBurstLength)
				p.MaxBurstLength = a.u32("max-burst", p.MaxBurstLength)
				p.MaxRecvDataSegmentLength = a.u32("max-seg", p.MaxRecvDataSegmentLength)
				p.MaxOutstandingR2T = a.u32("max-r2t", p.MaxOutstandingR2T)
				cfg.MaxTaskBytes = a.u32("max-task", cfg.MaxTaskBytes)
				cfg.MaxBufferedBytes = uint64(a.u32("max-buffered", uint32(cfg.MaxBufferedBytes)))
				if a.has("target-reset") {
					why := a.str("target-reset", "")
					cfg.MayResetTarget = func(string, string) (bool, string) { return why == "allowed", why }
				}
				if a.has("discovery") {
					cfg.Login.SessionType, cfg.Login.Target = login.SessionDiscovery, login.TargetInfo{}
				}
				nextCmdSN = a.u32("cmdsn", 1)
				h = newHarness(cfg, nextCmdSN)
				return fmt.Sprintf("logged in: exp=%d depth=%d\n", nextCmdSN, cfg.QueueDepth)
			case "cmd":
				p := &iscsi.PDU{}
				b := &p.BHS
				b.SetOpcode(iscsi.OpSCSICmd)
				imm := a.has("immediate")
				b.SetImmediate(imm)
				var f uint8
				if !a.has("nofinal") {
					f |= iscsi.FlagFinal
				}
				if a.has("read") {
					f |= iscsi.CmdFlagRead
				}
				if a.has("write") {
					f |= iscsi.CmdFlagWrite
				}
				f |= uint8(a.u32("attr", 1))
				b.SetFlags(f)
				b.SetITT(a.u32("itt", 0))
				b.SetCmdSN(cmdSN(imm))
				edtl := a.u32("edtl", 0)
				b.SetExpectedDataTransferLength(edtl)
				b.SetLUN(lunField(a))
				copy(b.CDB(), cdb(a.str("op", defaultOp(a)), edtl))
				if a.has("ahs") {
					p.AHS = hexBytes(t, d, a.str("ahs", ""))
				}
				n := a.u32("imm", 0)
				pooled := n > 0 && !a.has("copy")
				if n > 0 {
					p.Data = h.data(int(n), pooled)
				}
				h.m.PDU(p, pooled)
			case "dataout":
				p := &iscsi.PDU{}
				b := &p.BHS
				b.SetOpcode(iscsi.OpDataOut)
				b.SetFinal(a.has("final"))
				b.SetITT(a.u32("itt", 0))
				b.SetTTT(a.u32("ttt", iscsi.ReservedTag))
				b.SetDataSN(a.u32("datasn", 0))
				b.SetBufferOffset(a.u32("off", 0))
				n := a.u32("len", 0)
				pooled := n > 0 && !a.has("copy")
				p.Data = h.data(int(n), pooled)
				h.m.PDU(p, pooled)
			case "complete":
				itt := a.u32("itt", 0)
				task := h.atLUN[itt]
				if task == nil {
					return fmt.Sprintf("(no task %d at the LUN)\n", itt)
				}
				delete(h.atLUN, itt)
				c := &pb.ScsiCompletion{Itt: itt, TransferLength: a.u32("transfer", 0)}
				switch a.str("status", "good") {
				case "good":
				case "check":
					c.Status = uint32(scsi.StatusCheckCondition)
					c.Sense = scsi.AppendSense(nil, scsi.InvalidFieldInCDB(2, -1))
				case "busy":
					c.Status = uint32(scsi.StatusBusy)
				}
				if n := a.u32("data", 0); n > 0 {
					c.Pooled = a.has("pooled")
					c.DataIn = h.data(int(n), c.Pooled)
				}
				c.Detached = a.has("detached")
				h.m.Complete(c)
			case "tmf":
				p := &iscsi.PDU{}
				b := &p.BHS
				b.SetOpcode(iscsi.OpTaskMgmtReq)
				imm := !a.has("cmdsn") || a.has("immediate")
				b.SetImmediate(imm)
				b.SetFlags(iscsi.FlagFinal | tmfCode(t, d, a.str("fn", "")))
				b.SetITT(a.u32("itt", 0))
				b.SetReferencedTaskTag(a.u32("ref", iscsi.ReservedTag))
				b.SetRefCmdSN(a.u32("refcmdsn", 0))
				b.SetLUN(lunField(a))
				b.SetCmdSN(cmdSN(imm))
				h.m.PDU(p, false)
			case "aborted-by-other":
				// Another session's function aborted these task sets; the model
				// session stamps its ExpCmdSN, as the session actor does.
				ab := &pb.TaskSetAborted{Target: "iqn.2026-11.test:tgt", AllLuns: a.has("all"),
					ByNexus: "iqn.2026-11.test:other,i,0x1", ExpCmdSn: a.u32("exp", h.window.Exp())}
				if !ab.AllLuns {
					ab.Luns = []uint64{uint64(a.u32("lun", 0))}
				}
				h.m.AbortedByOther(ab)
			case "tmfdone":
				h.m.TMFDone(&pb.TaskManagementDone{Itt: a.u32("itt", 0), Response: a.u32("response", 0),
					FanOut: a.u32("fanout", 1)})
			case "nop", "nop-reply", "logout", "text", "pdu":
				p := &iscsi.PDU{}
				b := &p.BHS
				b.SetFinal(true)
				b.SetITT(a.u32("itt", iscsi.ReservedTag))
				b.SetTTT(iscsi.ReservedTag)
				// A ping's answer and a PDU the target rejects take no CmdSN.
				imm := a.has("immediate") || d.Cmd == "nop-reply"
				b.SetImmediate(imm)
				b.SetCmdSN(cmdSN(imm || d.Cmd == "pdu"))
				switch d.Cmd {
				case "nop":
					b.SetOpcode(iscsi.OpNopOut)
					p.Data = make([]byte, a.u32("len", 0))
				case "nop-reply":
					b.SetOpcode(iscsi.OpNopOut)
					b.SetTTT(a.u32("ttt", 0))
				case "logout":
					b.SetOpcode(iscsi.OpLogoutReq)
					b.SetFlags(iscsi.FlagFinal | uint8(a.u32("reason", 0)))
					b.SetCID(uint16(a.u32("cid", 0)))
				case "text":
					b.SetOpcode(iscsi.OpTextReq)
					b.SetTTT(a.u32("ttt", iscsi.ReservedTag))
					b.SetFinal(!a.has("cont") && !a.has("nofinal"))
					b.SetContinue(a.has("cont"))
					if a.has("final") {
						b.SetFinal(true)
					}
					b.SetLUN(uint64(a.u32("lun", 0)))
					if a.has("keys") {
						for _, kv := range strings.Split(a.str("keys", ""), ";") {
							p.Data = append(append(p.Data, kv...), 0)
						}
					}
					// raw: text as it is, ';' for NUL (a part may end inside a pair);
					// len: that many bytes of filler.
					p.Data = append(p.Data, strings.ReplaceAll(a.str("raw", ""), ";", "\x00")...)
					p.Data = append(p.Data, strings.Repeat("x", int(a.u32("len", 0)))...)
				case "pdu":
					op, _ := strconv.ParseUint(a.str("opcode", "0"), 16, 8)
					b.SetOpcode(iscsi.Opcode(op))
				}
				h.m.PDU(p, false)
			case "digest-error":
				// A PDU whose data digest was wrong: a Data-Out (its header
				// fields as for dataout), or a command or NOP-Out with data.
				var b iscsi.BHS
				b.SetITT(a.u32("itt", 0))
				switch a.str("op", "dataout") {
				case "dataout":
					b.SetOpcode(iscsi.OpDataOut)
					b.SetFinal(a.has("final"))
					b.SetTTT(a.u32("ttt", iscsi.ReservedTag))
					b.SetDataSN(a.u32("datasn", 0))
					b.SetBufferOffset(a.u32("off", 0))
					b.SetDataSegmentLength(a.u32("len", 0))
				case "cmd":
					b.SetOpcode(iscsi.OpSCSICmd)
					b.SetFlags(iscsi.FlagFinal | iscsi.CmdFlagWrite)
					b.SetImmediate(a.has("immediate"))
					b.SetCmdSN(cmdSN(a.has("immediate")))
				case "nop":
					b.SetOpcode(iscsi.OpNopOut)
					b.SetImmediate(a.has("immediate"))
					b.SetCmdSN(cmdSN(a.has("immediate")))
				}
				h.m.DataDigestError(&b)
			case "tick":
				dur, err := time.ParseDuration(a.str("t", "0s"))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				h.m.Tick(h.start.Add(dur))
			case "session":
				h.hold = d.CmdArgs[0].Key == "hold"
			case "request-logout":
				dur, err := time.ParseDuration(a.str("within", "10s"))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				h.m.RequestLogout(dur)
			case "closed":
				h.m.Closed("connection closed")
			case "buffers":
				fmt.Fprintf(&h.out, "held: %v\n", h.pool.held())
				for _, f := range h.pool.faults {
					fmt.Fprintf(&h.out, "fault: %s\n", f)
				}
				return h.out.String()
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			h.drain()
			return h.out.String()
		})
	})
}

// data returns n bytes of write or read data: a tracked pool buffer when pooled.
func (h *harness) data(n int, pooled bool) []byte {
	if pooled {
		return h.pool.Get(n)
	}
	return make([]byte, n)
}

// lunField is the LUN field of a request: lun=N encoded as SAM-5 addresses it, or
// lunraw=HEX as it stands.
func lunField(a argMap) uint64 {
	if a.has("lunraw") {
		v, err := strconv.ParseUint(a.str("lunraw", ""), 16, 64)
		if err != nil {
			panic(err)
		}
		return v
	}
	return scsi.EncodeLUN(uint64(a.u32("lun", 0)))
}

// defaultOp picks READ(16) or WRITE(16) from the command's direction.
func defaultOp(a argMap) string {
	switch {
	case a.has("write"):
		return "write16"
	case a.has("read"):
		return "read16"
	}
	return "tur"
}

// cdb builds the CDB a transcript names, with a transfer length of edtl bytes in
// 512-byte blocks where the command has one.
func cdb(op string, edtl uint32) []byte {
	c := make([]byte, 16)
	switch op {
	case "read16":
		c[0] = 0x88
	case "write16":
		c[0] = scsi.OpWrite16
	case "write10":
		c[0] = scsi.OpWrite10
	case "sanitize":
		c[0] = scsi.OpSanitize
	case "modeselect10":
		c[0] = scsi.OpModeSelect10
	case "tur":
		return c
	}
	binary.BigEndian.PutUint32(c[10:], edtl/512)
	return c
}

var tmfCodes = map[string]uint8{
	"abort-task": iscsi.TMFAbortTask, "abort-task-set": iscsi.TMFAbortTaskSet, "clear-aca": iscsi.TMFClearACA,
	"clear-task-set": iscsi.TMFClearTaskSet, "lu-reset": iscsi.TMFLUNReset, "target-warm": iscsi.TMFTargetWarmReset,
	"target-cold": iscsi.TMFTargetColdReset, "reassign": iscsi.TMFTaskReassign, "query-task": iscsi.TMFQueryTask,
	"query-task-set": iscsi.TMFQueryTaskSet, "query-async": iscsi.TMFQueryAsyncEvent,
}

func tmfCode(t *testing.T, d *datadriven.TestData, name string) uint8 {
	c, ok := tmfCodes[name]
	if !ok {
		d.Fatalf(t, "unknown function %q", name)
	}
	return c
}

func hexBytes(t *testing.T, d *datadriven.TestData, s string) []byte {
	var out []byte
	for i := 0; i+1 < len(s); i += 2 {
		v, err := strconv.ParseUint(s[i:i+2], 16, 8)
		if err != nil {
			d.Fatalf(t, "hex %q: %v", s, err)
		}
		out = append(out, byte(v))
	}
	return out
}

// argMap holds a command's key=value arguments; a bare key has the value "".
type argMap map[string]string

func args(t *testing.T, d *datadriven.TestData) argMap {
	m := argMap{}
	for _, a := range d.CmdArgs {
		m[a.Key] = strings.Join(a.Vals, ",")
	}
	return m
}

func (a argMap) has(k string) bool { _, ok := a[k]; return ok }

func (a argMap) str(k, def string) string {
	if v, ok := a[k]; ok {
		return v
	}
	return def
}

// u32 parses a number with an optional K or M suffix (or 0x hex).
func (a argMap) u32(k string, def uint32) uint32 {
	v, ok := a[k]
	if !ok {
		return def
	}
	mult := uint64(1)
	switch {
	case strings.HasSuffix(v, "K"):
		mult, v = 1024, strings.TrimSuffix(v, "K")
	case strings.HasSuffix(v, "M"):
		mult, v = 1<<20, strings.TrimSuffix(v, "M")
	}
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%s: %v", k, a[k], err))
	}
	return uint32(n * mult)
}
