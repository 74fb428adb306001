package target

import (
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// save writes the served config (as the administrator wrote it) to the config file,
// atomically, keeping the earlier versions: a restart then comes back exactly as the
// administrator left it, and a crash at any moment leaves either the old file or the
// new one, never a mix and never none. The caller holds the change lock.
func (s *Service) save() error {
	if s.admin.path == "" {
		return nil
	}
	if sameAsFile(s.admin.path, s.admin.raw) {
		return nil // a SIGHUP of a hand-edited file: keep its layout, rotate no version
	}
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(s.admin.raw)
	if err != nil {
		return err
	}
	return writeVersioned(s.admin.path, append(data, '\n'), s.admin.versions, holdsSecret(s.admin.raw))
}

// sameAsFile reports whether the file at path already says cfg (as LoadConfig reads
// it), so that saving it would only reformat the administrator's file.
func sameAsFile(path string, cfg *pb.Config) bool {
	raw, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	onFile := &pb.Config{}
	return protojson.Unmarshal(raw, onFile) == nil && proto.Equal(onFile, cfg)
}

// privateMode is the mode of a saved config that holds an inline CHAP secret: owner
// only, whatever the file's mode was (LoadConfig refuses such a file that others may
// read, so a looser mode would both leak the secret and stop the next start).
const privateMode = os.FileMode(0o600)

// writeVersioned replaces path with data: it writes a temporary file in the same
// directory and fsyncs it, moves the older versions up (path.1 is the newest of them,
// path.N the oldest kept), links the current file as path.1, renames the temporary
// file over path and fsyncs the directory. The file keeps its mode (a new one is
// 0600: a config may hold CHAP secrets), unless private (data holds a secret): then
// it is written privateMode, and the kept versions lose every permission of group
// and others too.
func writeVersioned(path string, data []byte, versions int, private bool) error {
	// A symlinked config (config management's) is written where it points: the
	// link stays, and so does what reads the file it names.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)
	mode := privateMode
	if fi, err := os.Stat(path); err == nil && !private {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil && versions > 0 {
		for i := versions - 1; i >= 1; i-- {
			from := fmt.Sprintf("%s.%d", path, i)
			if _, err := os.Stat(from); err == nil {
				if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
					return err
				}
			}
		}
		prev := path + ".1"
		os.Remove(prev)
		if err := os.Link(path, prev); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if private {
		if err := restrictVersions(path, versions); err != nil {
			return err
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// restrictVersions takes the permissions of group and others off the kept versions
// of path (path.1 ... path.versions): once a secret is saved, an earlier version
// written by an older atgtd with a looser mode may hold one too.
func restrictVersions(path string, versions int) error {
	for i := 1; i <= versions; i++ {
		v := fmt.Sprintf("%s.%d", path, i)
		fi, err := os.Lstat(v)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(v, fi.Mode().Perm()&^0o077); err != nil {
			return err
		}
	}
	return nil
}
