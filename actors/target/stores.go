package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/atgt/atgt/actors/dispatcher"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A missing file LUN store is created only for a LUN that is new: one that asks for
// it with a size, outside /dev, and that this data directory has not served before.
// The stores served are recorded in the data directory (storesFileName), so that a
// store that vanished (a filesystem not mounted, a volume not activated) is served
// NOT READY until it is back (missing.go), naming the LUN in a warning, instead of
// coming back as a blank disk that an initiator would format, and whose writes
// would land under the real store.

// storesFileName is the record of the file and block device stores served, in the
// data directory.
const storesFileName = "served-stores.json"

// storesRecord is the content of storesFileName.
type storesRecord struct {
	// Paths are the absolute paths of the stores served, sorted.
	Paths []string `json:"paths"`
	// Targets names the target that served each path, so that services sharing the
	// data directory (an embedder's, whose target names differ) each rewrite only
	// their own targets' paths. A path without one (an older record) is its next
	// writer's.
	Targets map[string]string `json:"targets,omitempty"`
}

// storesMu serialises the read and rewrite of a record between the services of one
// process that share a data directory.
var storesMu sync.Mutex

// loadServedStores reads the record of the data directory ("no record": none).
func loadServedStores(dataDir string) (map[string]bool, error) {
	r, err := loadStoresRecord(dataDir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(r.Paths))
	for _, p := range r.Paths {
		m[p] = true
	}
	return m, nil
}

// loadStoresRecord reads the record of the data directory (empty when there is none).
func loadStoresRecord(dataDir string) (storesRecord, error) {
	var r storesRecord
	b, err := os.ReadFile(filepath.Join(dataDir, storesFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("data directory: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("data directory: %s: %w", storesFileName, err)
	}
	return r, nil
}

// recordServedStores writes the stores of cfg's file LUNs as the record of the data
// directory, beside those the record has of targets cfg does not serve (another
// service's sharing the directory), and keeps them all as s.servedStores; a failure
// is logged (the record only makes a later start stricter). A missing LUN's store
// stays recorded if it was, and is recorded once it comes online, not before: it was
// never served. While the config file is unsaved (storesUnsaved: a change's save
// failed or is under way) every path of the record is kept too, so that a LUN the
// file still lists is never forgotten (its store, missing at the next start, would
// be created blank).
func (s *Service) recordServedStores(cfg *pb.Config) {
	storesMu.Lock()
	defer storesMu.Unlock()
	keep := s.storesUnsaved
	var paths []string
	owners := map[string]string{}
	mine := map[string]bool{}
	for _, t := range cfg.Targets {
		mine[t.Name] = true
		for _, set := range lunSets(0, t) {
			for _, l := range set.luns {
				p := absStore(l.Path)
				if l.Backend != "file" && l.Backend != "" {
					continue
				}
				if s.missing[dispatcher.Key{Target: set.route, LUN: l.Id}] != nil && !s.servedStores[p] {
					continue // never served: a missing store is recorded once it is there
				}
				paths = append(paths, p)
				owners[p] = t.Name
			}
		}
	}
	old, err := loadStoresRecord(cfg.DataDir)
	if err != nil {
		s.log.Warn("the record of served stores is rewritten with this service's stores only", "error", err)
	}
	for _, p := range old.Paths {
		if t := old.Targets[p]; (keep || t != "" && !mine[t]) && owners[p] == "" {
			paths = append(paths, p)
			if t != "" {
				owners[p] = t
			}
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	if len(old.Paths) == len(m) && len(old.Targets) == len(owners) && len(paths) > 0 {
		same := true
		for _, p := range old.Paths {
			same = same && m[p] && old.Targets[p] == owners[p]
		}
		if same {
			s.servedStores = m
			return
		}
	}
	s.servedStores = m
	if len(paths) == 0 {
		if err := os.Remove(filepath.Join(cfg.DataDir, storesFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("the record of served stores was not removed", "error", err)
		}
		return
	}
	b, err := json.MarshalIndent(storesRecord{Paths: paths, Targets: owners}, "", "  ")
	if err == nil {
		err = writeVersioned(filepath.Join(cfg.DataDir, storesFileName), append(b, '\n'), 0, true)
	}
	if err != nil {
		s.log.Warn("the record of served stores was not written: a store missing at the next start may be created blank",
			"path", filepath.Join(cfg.DataDir, storesFileName), "error", err)
	}
}

// setStoresUnsaved says whether the config file may still list LUNs that the served
// config no longer has (recordServedStores keeps their stores recorded): true from
// the start of a change's save until one succeeds.
func (s *Service) setStoresUnsaved(unsaved bool) {
	storesMu.Lock()
	s.storesUnsaved = unsaved
	storesMu.Unlock()
}

// absStore is a store's path made absolute, as the record keeps it.
func absStore(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// missingStoreError is a file LUN's store that does not exist and may not be
// created. A start or a config change (SIGHUP, ApplyConfig) serves such a LUN NOT
// READY until its store appears (missing.go); `lun add` refuses it.
type missingStoreError struct {
	field, path string
	// why says why it is not created, and what to do.
	why string
}

func (e *missingStoreError) Error() string {
	return fmt.Sprintf("%s.path: %s does not exist%s", e.field, e.path, e.why)
}

// createStore decides whether a file LUN's missing store is created: true when it is
// missing and may be; a *missingStoreError naming the LUN (field) and path when it is
// missing and may not; false when it exists (or cannot be looked at: backend.Open
// reports that).
func (s *Service) createStore(field string, l *pb.Lun) (bool, error) {
	_, err := os.Stat(l.Path)
	if !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	abs := absStore(l.Path)
	missing := func(why string) error { return &missingStoreError{field: field, path: l.Path, why: why} }
	switch {
	case s.servedStores[abs]:
		return false, missing(fmt.Sprintf(", but this data directory served it before "+
			"(is its filesystem mounted, its volume or device attached?): a missing store is not replaced by a blank disk; "+
			"restore it, remove the LUN, or take its path out of %s to have it created blank",
			filepath.Join(s.storesDir, storesFileName)))
	case underDev(abs):
		return false, missing(" (no such block device; atgtd never creates a file under /dev)")
	case l.ReadOnly:
		return false, missing(" (a readOnly LUN's store is never created)")
	case l.SizeBytes == 0:
		return false, missing("; give sizeBytes (atgtctl lun add -size) to create it")
	}
	return true, nil
}

// underDev reports a path in /dev, where only devices belong: a file created there
// lives in RAM and vanishes at reboot.
func underDev(abs string) bool {
	return abs == "/dev" || strings.HasPrefix(abs, "/dev/")
}

// removeCreated removes the stores created for LUNs that were then not served (a
// start or change that failed after opening them), so that a failed attempt leaves
// no empty file behind.
func (s *Service) removeCreated(paths []string) {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("a LUN file created for a change that failed was not removed", "path", p, "error", err)
			continue
		}
		s.log.Info("removed the LUN file created for a start or change that failed", "path", p)
	}
}
