package reservation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/atgt/atgt/backend"
)

// The APTPL state file is JSON so an operator can read it, versioned so a
// later format can be told apart, and complete: it holds everything a
// restart must bring back, or nothing (APTPL off).

const (
	stateFormat  = "atgt-persistent-reservations"
	stateVersion = 1
	// maxStateFile bounds what LoadState reads; MaxRegistrations entries
	// with the longest iSCSI names fit easily.
	maxStateFile = 1 << 20
)

type stateFile struct {
	Format        string         `json:"format"`
	Version       int            `json:"version"`
	Seq           uint64         `json:"seq"`
	APTPL         bool           `json:"aptpl"`
	Generation    uint32         `json:"generation"`
	Registrations []stateReg     `json:"registrations"`
	Reservation   *stateReserved `json:"reservation,omitempty"`
}

type stateReg struct {
	Nexus              string `json:"nexus"`
	Key                uint64 `json:"key"`
	AllTargetPorts     bool   `json:"allTargetPorts,omitempty"`
	RelativeTargetPort uint16 `json:"relativeTargetPort"`
}

type stateReserved struct {
	Holder string `json:"holder"`
	Type   uint8  `json:"type"`
}

// snapshot encodes what must survive a restart: the registrations and the
// reservation while APTPL is set, an empty state once it is not.
func (t *Table) snapshot() []byte {
	t.seq++
	s := t.state(t.seq)
	b, err := json.Marshal(&s)
	if err != nil {
		// Marshalling these plain types cannot fail.
		panic(err)
	}
	return append(b, '\n')
}

// state is the state file's content for the table as it stands, numbered seq.
func (t *Table) state(seq uint64) stateFile {
	s := stateFile{Format: stateFormat, Version: stateVersion, Seq: seq, APTPL: t.aptpl,
		Registrations: []stateReg{}}
	if t.aptpl {
		s.Generation = t.generation
		for _, r := range t.regs {
			s.Registrations = append(s.Registrations, stateReg{
				Nexus: r.nexus, Key: r.key, AllTargetPorts: r.allTG, RelativeTargetPort: r.rtp})
		}
		if t.res != nil {
			s.Reservation = &stateReserved{Holder: t.res.holder, Type: t.res.typ}
		}
	}
	return s
}

// decodeState parses and validates a state file into a table.
func decodeState(data []byte) (*Table, uint64, error) {
	var s stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, 0, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, errors.New("data after the state object")
	}
	if s.Format != stateFormat {
		return nil, 0, fmt.Errorf("format %q is not %q", s.Format, stateFormat)
	}
	if s.Version != stateVersion {
		return nil, 0, fmt.Errorf("version %d is not supported (want %d)", s.Version, stateVersion)
	}
	t := &Table{seq: s.Seq}
	if !s.APTPL {
		if len(s.Registrations) != 0 || s.Reservation != nil {
			return nil, 0, errors.New("registrations present with APTPL off")
		}
		return t, s.Seq, nil
	}
	if len(s.Registrations) > MaxRegistrations {
		return nil, 0, fmt.Errorf("%d registrations, more than %d", len(s.Registrations), MaxRegistrations)
	}
	t.aptpl = true
	t.generation = s.Generation
	for i, r := range s.Registrations {
		if r.Nexus == "" || r.Key == 0 || r.RelativeTargetPort == 0 {
			return nil, 0, fmt.Errorf("registrations[%d]: empty nexus, zero key or zero target port", i)
		}
		// Written before names were brought to one case, perhaps.
		nexus := canonicalID(r.Nexus)
		if t.find(nexus) != nil {
			return nil, 0, fmt.Errorf("registrations[%d]: nexus %q registered twice", i, r.Nexus)
		}
		t.regs = append(t.regs, &registration{nexus: nexus, key: r.Key, allTG: r.AllTargetPorts, rtp: r.RelativeTargetPort})
	}
	if rv := s.Reservation; rv != nil {
		holder := canonicalID(rv.Holder)
		if !validType(rv.Type) {
			return nil, 0, fmt.Errorf("reservation: invalid type %d", rv.Type)
		}
		if t.find(holder) == nil && !(allRegistrants(rv.Type) && len(t.regs) > 0) {
			return nil, 0, fmt.Errorf("reservation: holder %q is not registered", rv.Holder)
		}
		t.res = &reservation{holder: holder, typ: rv.Type}
	}
	return t, s.Seq, nil
}

// LoadState reads the APTPL state file at path, as the LUN does when it
// starts. A missing file is an empty table; a file that cannot be read or
// is corrupt is an error naming it, so the LUN does not silently drop
// reservations an initiator relies on.
func LoadState(path string) (*Table, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reservation state: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, fmt.Errorf("reservation state: %w", err)
	}
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("reservation state %s: corrupt: larger than %d bytes", path, maxStateFile)
	}
	t, seq, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("reservation state %s: corrupt: %w", path, err)
	}
	if n := New(); n.seq > seq {
		t.seq = n.seq
	}
	// SPC-4 6.16.2 (READ KEYS): "Regardless of the APTPL bit value the
	// PRgeneration value shall be set to zero by a power on", and loading
	// the state is this logical unit's power on.
	t.generation = 0
	return t, nil
}

// WriteStateFile stores a snapshot from Outcome.Persist at path atomically
// and durably: a temporary file in the same directory is written and
// fsynced, renamed over path, and the directory fsynced. A snapshot older
// than the one already at path is skipped, so IO workers may finish
// writes in any order. It blocks on the disk: IO workers call it, never the
// LUN actor. Saves of one path are serialised, saves of different paths are
// not (pathlock.go).
func WriteStateFile(path string, data []byte) error {
	_, seq, err := decodeState(data)
	if err != nil {
		return fmt.Errorf("reservation state: refusing to write an invalid snapshot: %w", err)
	}
	defer lockPath(path)()
	if old, err := os.ReadFile(path); err == nil {
		if _, oldSeq, err := decodeState(old); err == nil && oldSeq > seq {
			return nil
		}
	}
	if err := backend.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("reservation state: %w", err)
	}
	return nil
}
