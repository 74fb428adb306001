package lun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
)

// modesMu serialises writeModesFile so that the newer-save check and the
// atomic replace are one step, whichever IO workers run them.
var modesMu sync.Mutex

// writeModesFile stores saved mode pages (scsidev.SavedModes.Marshal) at
// path atomically and durably. A save older than the one already there is
// skipped, so IO workers may finish in any order. Blocking: IO workers only.
func writeModesFile(path string, data []byte) error {
	st, err := scsidev.ParseSavedModes(data)
	if err != nil {
		return fmt.Errorf("saved mode pages: refusing to write an invalid state: %w", err)
	}
	modesMu.Lock()
	defer modesMu.Unlock()
	if old, err := os.ReadFile(path); err == nil {
		if o, err := scsidev.ParseSavedModes(old); err == nil && o.Seq > st.Seq {
			return nil
		}
	}
	if err := backend.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("saved mode pages: %w", err)
	}
	return nil
}

// LoadModesFile reads the saved mode pages at path; nil when nothing was
// saved. It blocks on the disk: call it when a LUN is created.
func LoadModesFile(path string) (*scsidev.SavedModes, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("saved mode pages: %w", err)
	}
	st, err := scsidev.ParseSavedModes(data)
	if err != nil {
		return nil, fmt.Errorf("saved mode pages %s: corrupt: %w", path, err)
	}
	return &st, nil
}
