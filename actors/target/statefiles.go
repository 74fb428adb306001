package target

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// LUN state files (saved reservations, saved mode pages) live in the data directory
// under names derived from the LUN's target and, for an initiator's own LUNs, the
// initiator. The naming must be injective: two logical units sharing a file would
// restore each other's reservations. The first naming (legacyStateBase) replaced
// every byte but letters, digits, '.' and '-' by '_' and joined target and
// initiator with "--", so "iqn.a:vms" with initiator "iqn.h:vm1" and a target named
// "iqn.a:vms--iqn.h:vm1" met. Files of that naming are renamed to the new one when a
// LUN opens, unless two LUN sets of the config share the old name.

// maxStateBase bounds a state base, so that a file name stays under NAME_MAX (255)
// with its "-lun<N>.modes.json" suffix; a longer one is cut and ends in a hash.
const maxStateBase = 180

// stateBase is the start of a LUN set's state file names: the escaped target name
// and, for an initiator's own LUNs, "+" and the escaped initiator name. Escaping
// keeps letters, digits, '.' and '-' and writes every other byte as "_xx" (hex), so
// '+' and '~' appear only as separators and the name is injective; one longer than
// maxStateBase is cut and ends in "~" and a hash of both names.
func stateBase(target, initiator string) string {
	base := escapeName(target)
	if initiator != "" {
		base += "+" + escapeName(initiator)
	}
	if len(base) <= maxStateBase {
		return base
	}
	sum := sha256.Sum256([]byte(target + "\x00" + initiator))
	return base[:maxStateBase-33] + "~" + hex.EncodeToString(sum[:16])
}

// escapeName writes s with only letters, digits, '.' and '-' as they are, every
// other byte as "_" and two hex digits.
func escapeName(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02x", c)
	}
	return b.String()
}

// legacyStateBase is stateBase as atgt named state files before: not injective.
func legacyStateBase(target, initiator string) string {
	base := target
	if initiator != "" {
		base += "--" + initiator
	}
	b := []byte(base)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// stateFileName names a LUN's reservation state file; base is a stateBase.
func stateFileName(base string, lun uint64) string {
	return fmt.Sprintf("%s-lun%d.pr.json", base, lun)
}

// modesFileName names a LUN's saved mode pages file, beside its reservation state.
func modesFileName(base string, lun uint64) string {
	return fmt.Sprintf("%s-lun%d.modes.json", base, lun)
}

// legacySharedBases lists the legacy state bases that two LUN sets of cfg share.
func legacySharedBases(cfg *pb.Config) map[string]bool {
	seen := map[string]bool{}
	shared := map[string]bool{}
	for ti, t := range cfg.Targets {
		for _, set := range lunSets(ti, t) {
			b := legacyStateBase(t.Name, set.initiator)
			shared[b] = seen[b]
			seen[b] = true
		}
	}
	return shared
}

// adoptLegacyState renames a LUN's state files of the legacy naming to the current
// names, when the current ones do not exist yet and no other LUN set of the config
// has the same legacy name (then nobody can tell whose they are: they stay, with a
// warning, and the LUN starts without saved state).
func (s *Service) adoptLegacyState(dataDir string, tg *targetLUNs, lun uint64) {
	legacy, cur := legacyStateBase(tg.name, tg.initiator), tg.stateBase()
	if legacy == cur {
		return
	}
	for _, name := range []func(string, uint64) string{stateFileName, modesFileName} {
		from, to := filepath.Join(dataDir, name(legacy, lun)), filepath.Join(dataDir, name(cur, lun))
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		if _, err := os.Lstat(to); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if s.legacyShared[legacy] {
			s.log.Warn("LUN state file of an earlier atgt is not used: two LUN sets of the config had that name",
				"file", from, "target", tg.name, "initiator", tg.initiator, "lun", lun)
			continue
		}
		if err := os.Rename(from, to); err != nil {
			s.log.Warn("LUN state file of an earlier atgt not renamed", "file", from, "to", to, "error", err)
			continue
		}
		s.log.Info("LUN state file renamed to the current naming", "from", from, "to", to)
	}
}
