package target

import (
	"errors"
	"regexp"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Errors about the config name its fields as the administrator wrote them, in the
// protobuf JSON (lowerCamel) form of the config file (targets[1].chap.secretFile),
// not by their protobuf names (secret_file), which appear in no file an
// administrator edits. The code names fields by their protobuf names, as the .proto
// does; jsonNames rewrites a message once, where it leaves the package.

// snakeName is a protobuf field name with an underscore, as the code writes it.
var snakeName = regexp.MustCompile(`[a-z][a-z0-9]*(?:_[a-z0-9]+)+`)

// configJSONNames maps the protobuf name of every field of the config's messages
// that has an underscore to its JSON name.
var configJSONNames = sync.OnceValue(func() map[string]string {
	names := map[string]string{}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if n := string(fd.Name()); strings.Contains(n, "_") {
				names[n] = fd.JSONName()
			}
			if m := fd.Message(); m != nil && strings.HasPrefix(string(m.FullName()), "atgt.") {
				walk(m)
			}
		}
	}
	walk((&pb.Config{}).ProtoReflect().Descriptor())
	return names
})

// jsonNames rewrites the config field names in msg to their JSON names. A name that
// is part of a path (after or before a '/') or of a longer word is left alone, so
// that file names keep their underscores.
func jsonNames(msg string) string {
	names := configJSONNames()
	var b strings.Builder
	last := 0
	for _, m := range snakeName.FindAllStringIndex(msg, -1) {
		json, ok := names[msg[m[0]:m[1]]]
		if !ok || m[0] > 0 && strings.ContainsAny(msg[m[0]-1:m[0]], "/-_\\") ||
			m[1] < len(msg) && strings.ContainsAny(msg[m[1]:m[1]+1], "/-\\") {
			continue
		}
		b.WriteString(msg[last:m[0]])
		b.WriteString(json)
		last = m[1]
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

// renamed is an error whose message has the config's JSON field names; it unwraps
// to the original, so errors.Is and errors.As see what they saw before.
type renamed struct {
	msg string
	err error
}

func (r *renamed) Error() string { return r.msg }
func (r *renamed) Unwrap() error { return r.err }

// jsonNamesErr is err with jsonNames applied to its message (nil stays nil); an
// admin API error keeps its code.
func jsonNamesErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) && ce == err {
		msg := jsonNames(ce.Message())
		if msg == ce.Message() {
			return err
		}
		return connect.NewError(ce.Code(), &renamed{msg: msg, err: ce.Unwrap()})
	}
	msg := jsonNames(err.Error())
	if msg == err.Error() {
		return err
	}
	return &renamed{msg: msg, err: err}
}
