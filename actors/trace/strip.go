package trace

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Strip returns a copy of m without its payload: every bytes field but the CDB and
// sense data is left out (at level Full only, so never on the common path), and
// message fields are stripped the same way. The payload is never copied.
func Strip(m proto.Message) proto.Message {
	src := m.ProtoReflect()
	if !src.IsValid() {
		return nil
	}
	dst := src.New()
	strip(src, dst)
	return dst.Interface()
}

func strip(src, dst protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.BytesKind:
			if n := fd.Name(); (n == "cdb" || n == "sense") && !fd.IsList() {
				dst.Set(fd, protoreflect.ValueOfBytes(append([]byte(nil), v.Bytes()...)))
			}
		case fd.IsList() && fd.Message() != nil:
			out := dst.Mutable(fd).List()
			for i := 0; i < v.List().Len(); i++ {
				e := out.NewElement()
				strip(v.List().Get(i).Message(), e.Message())
				out.Append(e)
			}
		case fd.IsList() || fd.IsMap():
			dst.Set(fd, v) // scalars: shared read-only, as protojson only reads them
		case fd.Message() != nil:
			strip(v.Message(), dst.Mutable(fd).Message())
		default:
			dst.Set(fd, v)
		}
		return true
	})
}
