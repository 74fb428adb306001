package guest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
)

// writeInitrd writes to out the base initramfs followed by an uncompressed newc cpio
// archive of files (name to content, mode 0755 under /). The kernel unpacks
// concatenated archives in order, so the per-boot files join the cached guest
// without rebuilding it; an archive must start 4-byte aligned, hence the zero padding.
func writeInitrd(out, base string, files map[string][]byte) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := os.Open(base)
	if err != nil {
		return err
	}
	defer b.Close()
	n, err := io.Copy(f, b)
	if err != nil {
		return err
	}
	if pad := (4 - n%4) % 4; pad != 0 {
		if _, err := f.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	if _, err := f.Write(newcArchive(files)); err != nil {
		return err
	}
	return f.Close()
}

// newcArchive encodes files as a cpio archive in the "newc" format the kernel reads.
func newcArchive(files map[string][]byte) []byte {
	var buf bytes.Buffer
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	ino := 1000
	entry := func(name string, mode int, data []byte) {
		ino++
		fmt.Fprintf(&buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		buf.WriteString(name)
		buf.WriteByte(0)
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
		buf.Write(data)
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	for _, name := range names {
		entry(name, 0o100755, files[name])
	}
	entry("TRAILER!!!", 0, nil)
	return buf.Bytes()
}
