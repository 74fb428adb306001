package target

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A removed LUN's state files (saved reservations, saved mode pages) are set aside
// only once the config file no longer lists the LUN: the next start must never serve
// a LUN of the file without the state it had (an APTPL reservation fences a node).
// The removal queues them (queueAside); before the config is saved their names go
// to a journal in the data directory (journalAside), and once the save succeeded
// they are set aside and the journal removed (finishAside). A save that fails
// leaves them where they are: the file still lists the LUN, and they wait for the
// next successful save. A start that finds the journal (a crash between the save
// and the renames) sets aside those of its LUNs the config no longer lists and
// keeps the others (reconcileAside). So a crash at any moment leaves each LUN
// either configured with its state or removed with its state set aside.

// asideJournal is the journal's name in the data directory.
const asideJournal = "removed-luns.pending.json"

// asideEntry names a removed LUN's state files: its set's stateBase and its id.
type asideEntry struct {
	Base string `json:"base"`
	LUN  uint64 `json:"lun"`
}

// queueAside queues the state files of a removed LUN of set to be set aside once
// the config is saved without it; the caller holds the change lock.
func (s *Service) queueAside(set *targetLUNs, lun uint64) {
	e := asideEntry{Base: set.stateBase(), LUN: lun}
	if !slices.Contains(s.aside, e) {
		s.aside = append(s.aside, e)
	}
}

// journalAside writes the queued entries to the journal (fsynced, with its
// directory) before the config is saved. A journal that cannot be written is
// logged: the files are still set aside after the save, only a crash between the
// two would leave them in place.
func (s *Service) journalAside() {
	if len(s.aside) == 0 || s.admin.path == "" {
		return
	}
	data, err := json.Marshal(s.aside)
	if err == nil {
		err = writeVersioned(filepath.Join(s.admin.cfg.DataDir, asideJournal), append(data, '\n'), 0, false)
	}
	if err != nil {
		s.log.Error("journal of removed LUNs' state files not written: a crash before they are set aside "+
			"would leave them for a LUN added later with the same id", "error", err)
	}
}

// finishAside sets aside the queued state files of the LUNs the saved config does
// not list, and removes the journal; the caller holds the change lock and the
// config was just saved (or is not saved at all).
func (s *Service) finishAside() {
	if len(s.aside) == 0 {
		return
	}
	dir := s.admin.cfg.DataDir
	for _, e := range s.aside {
		if !listsLUN(s.admin.cfg, e) {
			s.setStateAside(dir, e)
		}
	}
	s.aside = nil
	if err := os.Remove(filepath.Join(dir, asideJournal)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("journal of removed LUNs' state files not removed", "error", err)
	}
}

// reconcileAside finishes what a crash interrupted: the journal's LUNs that cfg no
// longer lists have their state files set aside; those it lists (the save did not
// happen) keep them. Called at start, before any LUN opens.
func (s *Service) reconcileAside(cfg *pb.Config) {
	path := filepath.Join(cfg.DataDir, asideJournal)
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var es []asideEntry
	if err := json.Unmarshal(data, &es); err != nil {
		s.log.Error("journal of removed LUNs' state files unreadable: left as it is", "file", path, "error", err)
		return
	}
	for _, e := range es {
		if !listsLUN(cfg, e) {
			s.setStateAside(cfg.DataDir, e)
		}
	}
	if err := os.Remove(path); err != nil {
		s.log.Warn("journal of removed LUNs' state files not removed", "file", path, "error", err)
	}
}

// listsLUN reports whether cfg serves the LUN whose state files e names.
func listsLUN(cfg *pb.Config, e asideEntry) bool {
	for ti, t := range cfg.Targets {
		for _, set := range lunSets(ti, t) {
			if stateBase(t.Name, set.initiator) != e.Base {
				continue
			}
			for _, l := range set.luns {
				if l.Id == e.LUN {
					return true
				}
			}
		}
	}
	return false
}
