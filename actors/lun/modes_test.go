package lun

import (
	"path/filepath"
	"testing"

	"github.com/atgt/atgt/actors/scsidev"
)

func TestModesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t-lun0.modes.json")
	if st, err := LoadModesFile(path); st != nil || err != nil {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	tests := []struct {
		name  string
		write scsidev.SavedModes
		want  scsidev.SavedModes
	}{
		{"first save", scsidev.SavedModes{Seq: 1, WriteCache: false}, scsidev.SavedModes{Seq: 1}},
		{"newer save replaces", scsidev.SavedModes{Seq: 3, WriteCache: true}, scsidev.SavedModes{Seq: 3, WriteCache: true}},
		{"older save is skipped", scsidev.SavedModes{Seq: 2}, scsidev.SavedModes{Seq: 3, WriteCache: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeModesFile(path, tt.write.Marshal()); err != nil {
				t.Fatal(err)
			}
			st, err := LoadModesFile(path)
			if err != nil || st == nil || *st != tt.want {
				t.Fatalf("loaded %+v, %v; want %+v", st, err, tt.want)
			}
		})
	}
	if err := writeModesFile(path, []byte("junk")); err == nil {
		t.Fatal("invalid state written")
	}
}
