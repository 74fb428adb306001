package scsidev

import (
	"encoding/json"
	"errors"
)

// SavedModes is the saved mode page state of a logical unit (MODE SELECT
// with SP=1): only the Caching page's WCE bit is savable. The LUN writes
// it to a small metadata file atomically before answering the MODE SELECT
// and hands it back in Config.Saved when the logical unit is created again.
type SavedModes struct {
	// Seq grows with every save, so that of two saves written by
	// different IO workers the older can never replace the newer.
	Seq uint64 `json:"seq"`
	// WriteCache is the saved WCE bit.
	WriteCache bool `json:"write_cache"`
}

// Marshal encodes s as the metadata file's content.
func (s SavedModes) Marshal() []byte {
	b, _ := json.Marshal(struct {
		Version int `json:"version"`
		SavedModes
	}{1, s})
	return append(b, '\n')
}

// ParseSavedModes decodes a metadata file written from Marshal.
func ParseSavedModes(data []byte) (SavedModes, error) {
	var v struct {
		Version int `json:"version"`
		SavedModes
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return SavedModes{}, err
	}
	if v.Version != 1 {
		return SavedModes{}, errors.New("unknown saved mode page version")
	}
	return v.SavedModes, nil
}
