package session

// tsihs hands out TSIHs (RFC 7143 11.12.4): never 0, which means "new session" in a
// Login Request, and never one a live session holds, so that an admin Logout by TSIH
// or a login naming a TSIH meets one session only. The counter goes on from the last
// one handed out, so that a TSIH just freed is the last to be reused.
type tsihs struct {
	last uint16
	used map[uint16]bool
}

// take returns a free TSIH, or false when all 65,535 are in use.
func (t *tsihs) take() (uint16, bool) {
	if t.used == nil {
		t.used = map[uint16]bool{}
	}
	if len(t.used) >= 1<<16-1 {
		return 0, false
	}
	for {
		t.last++
		if t.last != 0 && !t.used[t.last] {
			t.used[t.last] = true
			return t.last, true
		}
	}
}

// free gives a TSIH back.
func (t *tsihs) free(v uint16) { delete(t.used, v) }
