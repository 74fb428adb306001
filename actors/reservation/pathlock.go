package reservation

import (
	"path/filepath"
	"sync"
)

// WriteStateFile's check for a newer snapshot and its rename must be one step
// for each state file, whichever IO workers call it, but saves of different
// files must not wait for one another: a LUN whose state directory hangs (a
// stuck NFS or FUSE mount) would otherwise hold every other LUN's APTPL saves,
// and so their PERSISTENT RESERVE OUT commands, until their own ioTimeout. So
// each path has its own lock, kept only while a save of it is in progress.

// pathLocks maps a cleaned state file path to its lock.
var pathLocks = struct {
	sync.Mutex
	m map[string]*pathLock
}{m: map[string]*pathLock{}}

// pathLock serialises the saves of one state file; users counts the saves
// holding or waiting for it, so the map keeps no path no save uses.
type pathLock struct {
	sync.Mutex
	users int
}

// lockPath takes path's lock, waiting for a save of path in progress only,
// and returns its unlock.
func lockPath(path string) (unlock func()) {
	key := filepath.Clean(path)
	pathLocks.Lock()
	l := pathLocks.m[key]
	if l == nil {
		l = &pathLock{}
		pathLocks.m[key] = l
	}
	l.users++
	pathLocks.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		pathLocks.Lock()
		if l.users--; l.users == 0 {
			delete(pathLocks.m, key)
		}
		pathLocks.Unlock()
	}
}
