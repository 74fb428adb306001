package backend

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		data    string
		wantErr bool
	}{
		{"create", filepath.Join(dir, "m.json"), "one", false},
		{"replace", filepath.Join(dir, "m.json"), "two", false},
		{"missing directory", filepath.Join(dir, "no", "m.json"), "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteFileAtomic(tt.path, []byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("WriteFileAtomic err = %v", err)
			}
			if err != nil {
				return
			}
			got, err := os.ReadFile(tt.path)
			if err != nil || string(got) != tt.data {
				t.Fatalf("content %q, %v; want %q", got, err, tt.data)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
