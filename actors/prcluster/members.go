package prcluster

import (
	"slices"
	"strconv"
	"strings"
)

// Members. A notify counts the watches the cluster has, not the nodes that
// serve the image: once the OSD drops a silent node's watch (its watch
// timeout) the notify neither waits for it nor reports it, while that node
// may still serve on its old cache until its lease runs out. So every store
// registers its node in the object (Object.Join: an omap key member.<port>
// with its client's address) before it watches, each node names its port in
// its acknowledgements, and a writer counts as missed every registered
// member that did not acknowledge, whether the notify saw its watch or not.
//
// A member that missed a change is fenced before the change is answered: the
// writer blocklists the RADOS clients it knows for it (the store's, from its
// registration, and the image's, which the gateway publishes as gateway.<id>
// on atgt.events.<image>). The image's client being blocklisted fails what
// that node's librbd holds or is sent, and its LUN reopens the image only
// after ending its sessions and draining its workers (actors/lun reopen.go);
// the store's client being blocklisted puts its node in doubt until it has
// reread on a new client. The writer still waits out the staleness bound:
// the blocklisted node comes back on new clients within about a second and
// nothing orders its LUN's reopen after its store's reread, and a node whose
// image client was never published cannot be fenced at all; the lease is
// what bounds both. A member whose watch is being restored when a change
// lands (its watch lost, it is in doubt) is fenced too: in doubt it admits
// nothing new, but what it admitted before may still be in flight. Once
// fenced and waited out, the member's registration is
// removed (Forget), so that a gateway that is gone for good costs one slow
// change, not every one; a node that is alive joins again on its new client.

// ackPrefix starts the acknowledgement payload that names a member.
const ackPrefix = "atgt.pr.port="

// ackPayload is the acknowledgement of the member of port.
func ackPayload(port uint16) []byte {
	return []byte(ackPrefix + strconv.FormatUint(uint64(port), 10))
}

// ackPort reads the port from an acknowledgement, 0 if it names none.
func ackPort(b []byte) uint16 {
	s, ok := strings.CutPrefix(string(b), ackPrefix)
	if !ok {
		return 0
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(p)
}

// absentMembers returns the members but this node that are not among acked,
// with the addresses that fence each; ok is false when the members could not
// be read (then any node may have missed the change).
func (s *Store) absentMembers(acked []uint16) (absent map[uint16][]string, ok bool) {
	members, err := s.obj.Members()
	if err != nil {
		s.log.Warn("persistent reservations: reading the members failed; counting the change as missed", "error", err)
		return nil, false
	}
	absent = map[uint16][]string{}
	for port, addrs := range members {
		if port != s.port && !slices.Contains(acked, port) {
			absent[port] = addrs
		}
	}
	return absent, true
}

// fence blocklists the clients of every absent member, and reports the
// members all of whose known clients it blocklisted (none known: not fenced).
func (s *Store) fence(epoch uint64, absent map[uint16][]string) map[uint16][]string {
	fenced := map[uint16][]string{}
	for port, addrs := range absent {
		if len(addrs) == 0 {
			s.log.Warn("persistent reservations: a member that did not acknowledge a change has no client known to fence",
				"epoch", epoch, "port", port)
			continue
		}
		all := true
		for _, addr := range addrs {
			if err := s.obj.Blocklist(addr); err != nil {
				s.log.Warn("persistent reservations: blocklisting a member that did not acknowledge a change failed",
					"epoch", epoch, "port", port, "client", addr, "error", err)
				all = false
				continue
			}
			s.log.Warn("persistent reservations: blocklisted a member that did not acknowledge a change",
				"epoch", epoch, "port", port, "client", addr)
		}
		if all {
			fenced[port] = addrs
		}
	}
	return fenced
}

// forget removes the registrations of the members fenced for a change whose
// staleness bound has passed.
func (s *Store) forget(fenced map[uint16][]string) {
	for port, addrs := range fenced {
		if err := s.obj.Forget(port, addrs); err != nil {
			s.log.Warn("persistent reservations: removing a fenced member's registration failed", "port", port, "error", err)
		}
	}
}

// join registers this node again (after a new watch, or a change found by a
// reread that its watch did not bring); a failure is logged and tried again
// after the next reread (pollLoop): the node's lease bounds what it misses
// meanwhile.
func (s *Store) join() {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	err := s.obj.Join(s.port)
	s.mu.Lock()
	s.joined = err == nil
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("persistent reservations: registering this node as a member failed; trying again at the next reread", "error", err)
	}
}
