//go:build ceph

package backend

// #cgo LDFLAGS: -lrados
// #include <stdlib.h>
// #include <rados/librados.h>
import "C"

import (
	"unsafe"

	"github.com/ceph/go-ceph/rados"
)

// RadosAddr is the address of ioctx's RADOS client as the OSDs see it (what `ceph
// osd blocklist add` takes), "" if librados cannot tell: for the logs, and for tests
// that blocklist a client on purpose.
func RadosAddr(ioctx *rados.IOContext) string {
	var s *C.char
	cl := C.rados_ioctx_get_cluster(C.rados_ioctx_t(ioctx.Pointer()))
	if r := C.rados_getaddrs(cl, &s); r < 0 || s == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s)
}
