package reservation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/atgt/atgt/messages/scsi"
)

// Cluster tables. When several atgt nodes export one logical unit (an RBD
// image), its persistent reservation state lives in one shared object
// (actors/prcluster) and every node keeps a cached copy. Two differences
// from the local table follow:
//
//   - An I_T nexus is an initiator port AND a target port: the same
//     initiator port logged in to two nodes is two nexuses. Inside a cluster
//     table a nexus is named "<initiator port>|<relative target port>", or
//     "<initiator port>|*" for a registration made with ALL_TG_PT, which
//     stands for the initiator port on every target port. canon turns a
//     Nexus into that form at the entry points, so the logic in prout.go,
//     preempt.go and move.go is the same for both kinds of table.
//   - A node's cached table (AsCache) answers the reservation conflict check
//     and PERSISTENT RESERVE IN, but hands PERSISTENT RESERVE OUT to the
//     store (Outcome.Cluster), which runs it on a table decoded from the
//     shared object (DecodeCluster) and writes the result back atomically.
//
// RESERVE and RELEASE (6)/(10) are kept in the shared object too, so an
// SPC-2 reservation also holds across gateways: a cache hands them to the
// store like PERSISTENT RESERVE OUT. Their releases by events (the holder's
// nexus lost, a logical unit or target reset) are store operations the LUN
// submits (ReleaseLegacy, ResetLegacy); a gateway that starts releases those
// held through it, whose nexuses cannot have outlived it. One held through
// a gateway that dies for good stays until a LOGICAL UNIT RESET through any
// gateway, which is how SPC-2 cluster software breaks reservations anyway.

const (
	identSep      = "|"
	allPortsIdent = "*"
	clusterFormat = "atgt-cluster-persistent-reservations"
	// clusterVersion is the version of the shared object's format.
	clusterVersion = 1
)

// clusterMode is what a cluster table adds to a local one.
type clusterMode struct {
	// cache is set on a node's cached copy: PERSISTENT RESERVE OUT goes to
	// the store.
	cache bool
	// port is the relative target port of this node: the port of a Nexus
	// that names none.
	port uint16
	// epoch numbers the writes of the shared object, increasing (see
	// prcluster's nextEpoch); a node applies a state only if it is newer
	// than the one it has.
	epoch uint64
}

// NewCluster returns an empty cluster table, the state of a shared object
// that does not exist yet.
func NewCluster() *Table {
	return &Table{cl: &clusterMode{}}
}

// AsCache makes t a node's cached copy for the node serving relative target
// port port (0 means 1), and returns it.
func (t *Table) AsCache(port uint16) *Table {
	if t.cl == nil {
		t.cl = &clusterMode{}
	}
	if port == 0 {
		port = 1
	}
	t.cl.cache, t.cl.port = true, port
	return t
}

// Epoch numbers the write of the shared object this state comes from (0 for
// a local table or an object never written).
func (t *Table) Epoch() uint64 {
	if t.cl == nil {
		return 0
	}
	return t.cl.epoch
}

// canon names n the way the table does: unchanged for a local table; for a
// cluster table "<initiator port>|<port>", or the ALL_TG_PT registration of
// the initiator port if it has one and no registration of its own on this
// port.
func (t *Table) canon(n Nexus) Nexus {
	if t.cl == nil || strings.Contains(n.ID, identSep) {
		return n
	}
	if n.RelativeTargetPort == 0 || t.cl.cache {
		// A node's cache names its nexuses by the node's port, the one
		// its store writes them with.
		n.RelativeTargetPort = max(t.cl.port, 1)
	}
	id := n.ID + identSep + strconv.Itoa(int(n.RelativeTargetPort))
	if t.find(id) == nil {
		if all := n.ID + identSep + allPortsIdent; t.find(all) != nil {
			id = all
		}
	}
	n.ID = id
	return n
}

// identOf names the initiator port raw on relative target port port in the
// table's form.
func (t *Table) identOf(raw string, port uint16) string {
	if t.cl == nil {
		return raw
	}
	return raw + identSep + strconv.Itoa(int(port))
}

// allPortsIdent names the initiator port of n on every target port, as a
// REGISTER with ALL_TG_PT does.
func (t *Table) allPortsIdent(n Nexus) string {
	if t.cl == nil {
		return n.ID
	}
	return rawID(n.ID) + identSep + allPortsIdent
}

// splitIdent returns the initiator port and relative target port (0: every
// port) of a table name.
func splitIdent(id string) (string, uint16) {
	raw, port, ok := strings.Cut(id, identSep)
	if !ok || port == allPortsIdent {
		return raw, 0
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return raw, 0
	}
	return raw, uint16(p)
}

// rawID is the initiator port name of a table name.
func rawID(id string) string {
	raw, _ := splitIdent(id)
	return raw
}

// routeUAs rewrites unit attentions from table names to initiator port and
// relative target port, so that each node raises those of its own nexuses.
func (t *Table) routeUAs(uas []UA) {
	for i := range uas {
		uas[i].Nexus, uas[i].Port = splitIdent(uas[i].Nexus)
	}
}

// clusterCommand hands the commands that change reservations (RESERVE,
// RELEASE, PERSISTENT RESERVE OUT) from a cache to the store, which runs
// them on the shared state with the same logic, conflict checks included.
func (t *Table) clusterCommand(op byte) (Outcome, bool) {
	switch op {
	case scsi.OpReserve6, scsi.OpReserve10, scsi.OpRelease6, scsi.OpRelease10, scsi.OpPersistentReserveOut:
		if t.cl.cache {
			return Outcome{Cluster: true}, true
		}
	}
	return Outcome{}, false
}

// LegacyHeldBy reports whether n holds the RESERVE(6)/(10) reservation, so
// that the LUN asks the store to release it only when there is one.
func (t *Table) LegacyHeldBy(n Nexus) bool {
	return t.legacy != "" && t.legacy == t.canon(n).ID
}

// LegacyHeldThrough reports whether the RESERVE(6)/(10) reservation is held
// by a nexus of relative target port port.
func (t *Table) LegacyHeldThrough(port uint16) bool {
	if t.legacy == "" {
		return false
	}
	_, p := splitIdent(t.legacy)
	return p == port
}

// clusterState is the shared object: JSON so an operator can read it with
// `rados get`, versioned, and complete whatever APTPL says (see
// actors/prcluster for how APTPL is honoured).
type clusterState struct {
	Format        string       `json:"format"`
	Version       int          `json:"version"`
	Epoch         uint64       `json:"epoch"`
	APTPL         bool         `json:"aptpl"`
	Generation    uint32       `json:"generation"`
	Registrations []clusterReg `json:"registrations"`
	Reservation   *clusterRes  `json:"reservation,omitempty"`
	// Legacy is the holder of a RESERVE(6)/(10) reservation.
	Legacy *clusterRes `json:"legacy,omitempty"`
}

type clusterReg struct {
	Initiator string `json:"initiator"`
	// Port is the relative target port of the nexus, 0 for ALL_TG_PT.
	Port uint16 `json:"port"`
	Key  uint64 `json:"key"`
	// RelativeTargetPort is the port the REGISTER came through, reported
	// by READ FULL STATUS.
	RelativeTargetPort uint16 `json:"relativeTargetPort"`
}

type clusterRes struct {
	Initiator string `json:"initiator"`
	Port      uint16 `json:"port"`
	Type      uint8  `json:"type,omitempty"`
}

// EncodeCluster encodes t's persistent reservation state as the shared
// object, with epoch epoch.
func (t *Table) EncodeCluster(epoch uint64) []byte {
	s := clusterState{Format: clusterFormat, Version: clusterVersion, Epoch: epoch, APTPL: t.aptpl,
		Generation: t.generation, Registrations: []clusterReg{}}
	for _, r := range t.regs {
		raw, port := splitIdent(r.nexus)
		s.Registrations = append(s.Registrations, clusterReg{Initiator: raw, Port: port, Key: r.key,
			RelativeTargetPort: r.rtp})
	}
	if t.res != nil {
		raw, port := splitIdent(t.res.holder)
		s.Reservation = &clusterRes{Initiator: raw, Port: port, Type: t.res.typ}
	}
	if t.legacy != "" {
		raw, port := splitIdent(t.legacy)
		s.Legacy = &clusterRes{Initiator: raw, Port: port}
	}
	b, err := json.Marshal(&s)
	if err != nil {
		panic(err) // plain types: cannot fail
	}
	return append(b, '\n')
}

// portIdent is the table name of an initiator port on port (0: every port);
// raw comes from the shared object and is brought to NexusID's form.
func portIdent(raw string, port uint16) string {
	raw = canonicalID(raw)
	if port == 0 {
		return raw + identSep + allPortsIdent
	}
	return raw + identSep + strconv.Itoa(int(port))
}

// DecodeCluster parses the shared object into a cluster table (not a
// cache). Empty data is the state of an object that does not exist: no
// registrations. Anything malformed is an error: a node must not serve a
// logical unit whose reservations it cannot read.
func DecodeCluster(data []byte) (*Table, error) {
	t := NewCluster()
	if len(data) == 0 {
		return t, nil
	}
	var s clusterState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the state object")
	}
	if s.Format != clusterFormat || s.Version != clusterVersion {
		return nil, fmt.Errorf("format %q version %d is not %q version %d", s.Format, s.Version, clusterFormat, clusterVersion)
	}
	if len(s.Registrations) > MaxRegistrations {
		return nil, fmt.Errorf("%d registrations, more than %d", len(s.Registrations), MaxRegistrations)
	}
	t.cl.epoch, t.aptpl, t.generation = s.Epoch, s.APTPL, s.Generation
	for i, r := range s.Registrations {
		if r.Initiator == "" || strings.Contains(r.Initiator, identSep) || r.Key == 0 || r.RelativeTargetPort == 0 {
			return nil, fmt.Errorf("registrations[%d]: bad initiator, zero key or zero target port", i)
		}
		id := portIdent(r.Initiator, r.Port)
		if t.find(id) != nil {
			return nil, fmt.Errorf("registrations[%d]: %q registered twice", i, id)
		}
		t.regs = append(t.regs, &registration{nexus: id, key: r.Key, allTG: r.Port == 0, rtp: r.RelativeTargetPort})
	}
	if rv := s.Reservation; rv != nil {
		holder := portIdent(rv.Initiator, rv.Port)
		if !validType(rv.Type) {
			return nil, fmt.Errorf("reservation: invalid type %d", rv.Type)
		}
		if t.find(holder) == nil && !(allRegistrants(rv.Type) && len(t.regs) > 0) {
			return nil, fmt.Errorf("reservation: holder %q is not registered", holder)
		}
		t.res = &reservation{holder: holder, typ: rv.Type}
	}
	if lg := s.Legacy; lg != nil {
		if lg.Initiator == "" || strings.Contains(lg.Initiator, identSep) || lg.Port == 0 {
			return nil, errors.New("legacy: bad holder")
		}
		t.legacy = portIdent(lg.Initiator, lg.Port)
	}
	return t, nil
}
