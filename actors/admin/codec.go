package admin

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// strictJSON is the JSON codec of the admin service: Connect's own discards unknown
// fields, so that a misspelt field in a hand-written request (curl -d
// '{"tagret":...}', '{"froce":true}') would silently act on the wrong thing; this
// one refuses it, as config files are refused (target.LoadConfig). An empty body is
// an empty request, so that `curl -d ”` works too. Binary protobuf, which atgtctl
// sends, still keeps the unknown fields of a newer client.
type strictJSON struct{ name string }

// Name is the codec's content subtype: "json", or "json; charset=utf-8".
func (c strictJSON) Name() string { return c.name }

// Marshal writes protobuf JSON (lowerCamel names, 64-bit integers as strings).
func (strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.Marshal(pm)
}

// Unmarshal reads protobuf JSON and refuses unknown fields.
func (strictJSON) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(b) == 0 {
		proto.Reset(pm)
		return nil
	}
	return protojson.Unmarshal(b, pm)
}
