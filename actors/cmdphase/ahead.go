package cmdphase

import "github.com/atgt/atgt/actors/cmdsn"

// ahead keeps the non-immediate tasks whose CmdSN is at or beyond the ExpCmdSN the
// session last reported, in CmdSN order, so that MaxCmdSN is computed without a
// walk over the tasks: when ExpCmdSN moves, the tasks it passed leave from the
// front. Commands arrive almost always in CmdSN order, so adding is an append.
// Tasks forgotten while ahead are only unmarked and leave when passed, or when
// they are most of the list (a flood of CmdSNs the session drops).
type ahead struct {
	list []*task // list[head:] in CmdSN order
	head int
	live int // marked tasks in list[head:]
}

// add records tk, whose CmdSN is at or beyond ExpCmdSN.
func (a *ahead) add(tk *task) {
	tk.ahead = true
	a.live++
	sn := tk.t.CmdSn
	n := len(a.list)
	if n == a.head || !cmdsn.Less(sn, a.list[n-1].t.CmdSn) {
		a.list = append(a.list, tk)
		return
	}
	i := n
	for i > a.head && cmdsn.Less(sn, a.list[i-1].t.CmdSn) {
		i--
	}
	a.list = append(a.list, nil)
	copy(a.list[i+1:], a.list[i:])
	a.list[i] = tk
}

// remove unmarks a task that is forgotten.
func (a *ahead) remove(tk *task) {
	if !tk.ahead {
		return
	}
	tk.ahead = false
	a.live--
	if n := len(a.list) - a.head; n > 64 && n > 2*a.live {
		a.compact()
	}
}

// passed lets go of the tasks below the new ExpCmdSN: the session has released
// them.
func (a *ahead) passed(exp uint32) {
	for a.head < len(a.list) && cmdsn.Less(a.list[a.head].t.CmdSn, exp) {
		tk := a.list[a.head]
		a.list[a.head] = nil
		a.head++
		if tk.ahead {
			tk.ahead = false
			a.live--
		}
	}
	if a.head == len(a.list) {
		a.list, a.head = a.list[:0], 0
	}
}

// compact drops the unmarked tasks.
func (a *ahead) compact() {
	kept := a.list[:0]
	for _, tk := range a.list[a.head:] {
		if tk.ahead {
			kept = append(kept, tk)
		}
	}
	clear(a.list[len(kept):])
	a.list, a.head = kept, 0
}
