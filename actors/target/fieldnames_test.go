package target

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Errors and change lines name config fields as the config file writes them
// (protobuf JSON: targets[1].chap.secretFile), never by their .proto names
// (secret_file). These helpers and tests keep every message of the package so: the
// names come from the config's descriptors, so a field added to the .proto is
// checked without a test edit.

// configMessages lists Config and every atgt.* message under it, each once.
var configMessages = sync.OnceValue(func() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if slices.ContainsFunc(out, func(o protoreflect.MessageDescriptor) bool { return o.FullName() == md.FullName() }) {
			return
		}
		out = append(out, md)
		fields := md.Fields()
		for i := range fields.Len() {
			if m := fields.Get(i).Message(); m != nil && strings.HasPrefix(string(m.FullName()), "atgt.") {
				walk(m)
			}
		}
	}
	walk((&pb.Config{}).ProtoReflect().Descriptor())
	return out
})

// protoOnlyName matches, as a whole word, the .proto name of every config field whose
// JSON name differs (secret_file, but not path): a name no administrator writes.
var protoOnlyName = sync.OnceValue(func() *regexp.Regexp {
	var names []string
	for _, md := range configMessages() {
		fields := md.Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); string(fd.Name()) != fd.JSONName() {
				names = append(names, regexp.QuoteMeta(string(fd.Name())))
			}
		}
	}
	slices.Sort(names)
	return regexp.MustCompile(`\b(?:` + strings.Join(slices.Compact(names), "|") + `)\b`)
})

// leadingPath and laterPath match a field path as errors write it: the one after
// "config: " (behind an admin API code, "failed_precondition: config: ...") and any
// later one that starts at a target or the discovery CHAP.
var (
	leadingPath = regexp.MustCompile(`\bconfig: ([A-Za-z0-9_.\[\]]+): `)
	laterPath   = regexp.MustCompile(`\b(?:targets\[\d+\]|discovery(?:Mutual)?Chap)(?:\.\w+|\[\d+\])*`)
)

// resolveField walks a field path ("targets[0].chap.secretFile") through the
// config's descriptors by JSON name and says what does not resolve, or "".
func resolveField(path string) string {
	md := (&pb.Config{}).ProtoReflect().Descriptor()
	for _, seg := range strings.Split(path, ".") {
		name, index, indexed := strings.Cut(seg, "[")
		if md == nil {
			return fmt.Sprintf("%s: %q is under a field that is not a message", path, seg)
		}
		fd := md.Fields().ByJSONName(name)
		if fd == nil {
			return fmt.Sprintf("%s: %s has no field with the JSON name %q", path, md.FullName(), name)
		}
		if indexed {
			if _, err := strconv.Atoi(strings.TrimSuffix(index, "]")); err != nil || !fd.IsList() {
				return fmt.Sprintf("%s: %q indexes a field that is not a list", path, seg)
			}
		}
		md = fd.Message()
	}
	return ""
}

// checkJSONNames fails t if msg names a config field by its .proto name, or names a
// field path that does not resolve by JSON names.
func checkJSONNames(t *testing.T, msg string) {
	t.Helper()
	if w := protoOnlyName().FindString(msg); w != "" {
		t.Errorf("%q names the field %s by its .proto name", msg, w)
	}
	var paths []string
	if m := leadingPath.FindStringSubmatch(msg); m != nil {
		paths = append(paths, m[1])
	}
	paths = append(paths, laterPath.FindAllString(msg, -1)...)
	for _, p := range paths {
		if why := resolveField(p); why != "" {
			t.Errorf("%q: %s", msg, why)
		}
	}
}

// TestResolveField: the checker itself tells a JSON path from a .proto one.
func TestResolveField(t *testing.T) {
	for path, ok := range map[string]bool{
		"targets[1].chap.secretFile":           true,
		"targets[0].luns[2].sizeBytes":         true,
		"targets[0].luns[0].faults[1].delayMs": true,
		"targets[0].luns[0].rbd.cephConf":      true,
		"negotiation.maxOutstandingR2t":        true,
		"discoveryMutualChap.secret":           true,
		"targets[1].chap.secret_file":          false,
		"targets[0].luns[2].size_bytes":        false,
		"queue_depth":                          false,
		"targets[0].name[1]":                   false,
		"targets[0].name.x":                    false,
	} {
		if got := resolveField(path) == ""; got != ok {
			t.Errorf("resolveField(%s) = %q, want resolved %v", path, resolveField(path), ok)
		}
	}
	for _, msg := range []string{"config: queue_depth: 5 exceeds 4", "x is not in allowed_initiators", "move it to secret_file"} {
		if !protoOnlyName().MatchString(msg) {
			t.Errorf("%q: no .proto name found", msg)
		}
	}
	if protoOnlyName().MatchString("/var/lib/atgt/secret_file_2 atgt_queue_depth") {
		t.Error("a .proto name inside a longer word was taken for a field")
	}
}

// TestSourceNamesJSONFields: no string literal of the package's code (errors, change
// lines, log messages) holds a config field's .proto name; comments may, as the
// .proto is what they describe.
func TestSourceNamesJSONFields(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
			}
			checked++
			if w := protoOnlyName().FindString(s); w != "" {
				t.Errorf("%s: %q names %s by its .proto name; write its JSON name", fset.Position(lit.Pos()), s, w)
			}
			return true
		})
	}
	if checked < 500 {
		t.Fatalf("only %d string literals checked: the scan missed the package's files", checked)
	}
}

// changed sets a field of m to a value other than the one it has: true, 7 (8), "x",
// one more element of a list, a set message.
func changed(t *testing.T, m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	t.Helper()
	if fd.IsList() {
		l := m.Mutable(fd).List()
		if fd.Message() != nil {
			l.Append(protoreflect.ValueOfMessage(l.NewElement().Message()))
		} else {
			l.Append(scalar(t, fd, 7))
		}
		return
	}
	if fd.Message() != nil {
		m.Set(fd, protoreflect.ValueOfMessage(m.Get(fd).Message().New()))
		return
	}
	v := scalar(t, fd, 7)
	if m.Has(fd) && m.Get(fd).Equal(v) {
		v = scalar(t, fd, 8)
	}
	m.Set(fd, v)
}

// scalar is n as a value of fd's kind (a string of n characters, n != 0 as a bool).
func scalar(t *testing.T, fd protoreflect.FieldDescriptor, n int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(n%2 == 1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(strings.Repeat("x", n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(strings.Repeat("x", n)))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n))
	}
	t.Fatalf("%s: kind %v", fd.FullName(), fd.Kind())
	return protoreflect.Value{}
}

// eachField calls f with every field of m and its path below prefix (JSON names),
// going into set message fields: what firstDifference can name.
func eachField(m protoreflect.Message, prefix string, f func(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string)) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		path := prefix + fd.JSONName()
		f(m, fd, path)
		if fd.Message() != nil && !fd.IsList() && !fd.IsMap() && m.Has(fd) {
			eachField(m.Get(fd).Message(), path+".", f)
		}
	}
}

// diffBase is a defaulted config for the diff walk with every nested message set,
// so that the walk reaches their fields: a target with CHAP, a LUN with an image.
func diffBase() *pb.Config {
	c := DefaultConfig()
	c.DiscoveryChap = &pb.Chap{User: "d", SecretFile: "/s"}
	t := c.Targets[0]
	t.Chap, t.MutualChap = &pb.Chap{User: "u", SecretFile: "/s1"}, &pb.Chap{User: "m", SecretFile: "/s2"}
	t.Luns[0].Rbd = &pb.Rbd{Image: "vm1"}
	t.Luns[0].Faults = []*pb.Fault{{Op: "read", Kind: "medium"}}
	return ApplyDefaults(c)
}

// TestDiffNamesEveryFieldByJSONName walks every field of the config's messages that a
// change can differ in, changes it alone, and checks the admin API's refusal or
// change line names it by its JSON path: the names are firstDifference's, from the
// descriptors.
func TestDiffNamesEveryFieldByJSONName(t *testing.T) {
	old := diffBase()
	seen := map[protoreflect.FullName]bool{}
	try := func(path string, edit func(next *pb.Config), want string) {
		t.Helper()
		next := proto.Clone(old).(*pb.Config)
		edit(next)
		p, err := (&Service{}).diff(old, next, applyOpts{})
		text := fmt.Sprint(err)
		if err == nil {
			text = strings.Join(p.changes, "\n")
		}
		if !strings.Contains(text, want) {
			t.Errorf("%s changed: %q does not say %q", path, text, want)
		}
		checkJSONNames(t, text)
	}
	// The config's own fields: a restart, naming the field; what the admin API
	// changes live (targets, discovery CHAP) says what it changes.
	eachField(old.ProtoReflect(), "", func(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) {
		seen[fd.FullName()] = true
		switch path {
		case "targets":
			return
		case "chapAlgorithms", "discoveryChap", "discoveryMutualChap":
			try(path, func(c *pb.Config) { changed(t, c.ProtoReflect(), fd) }, "update discovery CHAP")
			return
		}
		if strings.HasPrefix(path, "discovery") || fd.Message() != nil && m.Has(fd) && !fd.IsList() {
			return // the discovery CHAP's fields, and a set message: its fields are named
		}
		try(path, func(c *pb.Config) { changed(t, at(c.ProtoReflect(), path), fd) },
			"config: "+path+": changing it needs a restart of atgtd")
	})
	// A target's fields: a line naming the field; its port groups need a restart.
	eachField(old.Targets[0].ProtoReflect(), "", func(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) {
		seen[fd.FullName()] = true
		edit := func(c *pb.Config) { changed(t, at(c.Targets[0].ProtoReflect(), path), fd) }
		switch {
		case path == "name" || path == "luns" || path == "initiatorLuns":
			return // another target, or the LUNs (below)
		case path == "portGroups" || path == "localPortGroup": // one refusal for the ALUA view
			try(path, edit, "config: targets[0].portGroups: changing a target's port groups needs a restart")
		case path == "aluaHoldSeconds":
			try(path, edit, "config: targets[0].aluaHoldSeconds: changing it needs a restart of atgtd, as portGroups does")
		case fd.Message() != nil && m.Has(fd) && !fd.IsList():
			return
		default:
			try(path, edit, "update target "+old.Targets[0].Name+" ("+path+")")
		}
	})
	// A LUN's fields: a refusal naming the field, but for what changes live.
	eachField(old.Targets[0].Luns[0].ProtoReflect(), "", func(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) {
		seen[fd.FullName()] = true
		edit := func(c *pb.Config) { changed(t, at(c.Targets[0].Luns[0].ProtoReflect(), path), fd) }
		switch {
		case path == "id":
			return // another LUN
		case path == "faults":
			try(path, edit, "set faults of lun 0 of "+old.Targets[0].Name+" (2)")
		case path == "sizeBytes" || path == "faultSeed": // live, through the LUN (none here)
			try(path, edit, "")
		case fd.Message() != nil && m.Has(fd) && !fd.IsList():
			return
		default:
			try(path, edit, "config: targets[0].luns[0]."+path+": changing it needs the LUN removed")
		}
	})
	for _, md := range configMessages() {
		if md.FullName() == (&pb.Fault{}).ProtoReflect().Descriptor().FullName() ||
			md.FullName() == (&pb.InitiatorLuns{}).ProtoReflect().Descriptor().FullName() ||
			md.FullName() == (&pb.InitiatorChap{}).ProtoReflect().Descriptor().FullName() ||
			md.FullName() == (&pb.PortGroup{}).ProtoReflect().Descriptor().FullName() {
			continue // elements of lists: a change is the list's
		}
		fields := md.Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); !seen[fd.FullName()] {
				t.Errorf("%s: not reached by the walk", fd.FullName())
			}
		}
	}
}

// at is the message at path (JSON names, as eachField gives them) below m, for the
// field path names: m itself for a field of m's own.
func at(m protoreflect.Message, path string) protoreflect.Message {
	parts := strings.Split(path, ".")
	for _, name := range parts[:len(parts)-1] {
		m = m.Mutable(m.Descriptor().Fields().ByJSONName(name)).Message()
	}
	return m
}
