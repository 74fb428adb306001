package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The JSON that -o json prints. These structs, not the protobuf messages, are
// atgtctl's contract with scripts: protojson would print 64-bit numbers as strings
// and leave out empty fields, so every field is here always, numbers are numbers and
// lists are arrays ([] when empty). Add fields; never rename or remove one.

// lunJSON is one element of `atgtctl -o json luns` (and `lun add`'s answer).
type lunJSON struct {
	Target    string `json:"target"`
	Initiator string `json:"initiator"` // "" for the target's shared LUNs
	ID        uint64 `json:"id"`
	Backend   string `json:"backend"`
	Path      string `json:"path"`
	SizeBytes uint64 `json:"sizeBytes"`
	BlockSize uint32 `json:"blockSize"`
	ReadOnly  bool   `json:"readOnly"`
	Workers   uint32 `json:"workers"`
	IoPolicy  string `json:"ioPolicy"`
	Faults    uint32 `json:"faults"`
	// State is online, missing (its store was not there: NOT READY until it is) or
	// offline (its actor failed too often); Reason says why it is not online.
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// sessionJSON is one element of `atgtctl -o json sessions`.
type sessionJSON struct {
	Initiator     string            `json:"initiator"`
	Target        string            `json:"target"`
	TSIH          uint32            `json:"tsih"`
	ISID          string            `json:"isid"`
	Address       string            `json:"address"`
	Portal        string            `json:"portal"`
	Keys          map[string]string `json:"keys"`
	TasksInFlight uint64            `json:"tasksInFlight"`
	BytesRead     uint64            `json:"bytesRead"`
	BytesWritten  uint64            `json:"bytesWritten"`
	UptimeSeconds float64           `json:"uptimeSeconds"`
}

// targetJSON is one element of `atgtctl -o json targets`.
type targetJSON struct {
	Name              string   `json:"name"`
	Alias             string   `json:"alias"`
	Luns              []uint64 `json:"luns"`
	Sessions          uint32   `json:"sessions"`
	AllowedInitiators []string `json:"allowedInitiators"`
	AllowedNetworks   []string `json:"allowedNetworks"`
	OwnLunsInitiators []string `json:"ownLunsInitiators"`
	Chap              bool     `json:"chap"`
}

// statusJSON is `atgtctl -o json status`.
type statusJSON struct {
	Version       string   `json:"version"`
	UptimeSeconds float64  `json:"uptimeSeconds"`
	Portals       []string `json:"portals"`
	Targets       uint32   `json:"targets"`
	Luns          uint32   `json:"luns"`
	Sessions      uint32   `json:"sessions"`
	ConfigPath    string   `json:"configPath"`
}

// lunStatsJSON is one element of `atgtctl -o json stats`.
type lunStatsJSON struct {
	Target         string `json:"target"`
	Initiator      string `json:"initiator"`
	ID             uint64 `json:"id"`
	Reads          uint64 `json:"reads"`
	Writes         uint64 `json:"writes"`
	BytesRead      uint64 `json:"bytesRead"`
	BytesWritten   uint64 `json:"bytesWritten"`
	OtherCommands  uint64 `json:"otherCommands"`
	Errors         uint64 `json:"errors"`
	TasksInFlight  uint64 `json:"tasksInFlight"`
	WorkerRestarts uint64 `json:"workerRestarts"`
	AbandonedIOs   uint64 `json:"abandonedIos"`
	FaultsFired    uint64 `json:"faultsFired"`
}

// lunRef names a LUN in the answers of the commands that change one.
type lunRef struct {
	Target    string `json:"target"`
	Initiator string `json:"initiator"`
	ID        uint64 `json:"id"`
}

// The answers of the commands that change something.
type (
	targetAddedJSON struct {
		Target string `json:"target"`
		Luns   int    `json:"luns"`
	}
	targetRemovedJSON struct {
		Target            string `json:"target"`
		SessionsLoggedOut uint32 `json:"sessionsLoggedOut"`
		SessionsClosed    uint32 `json:"sessionsClosed"`
	}
	lunRemovedJSON struct {
		lunRef
		DrainedTasks uint64 `json:"drainedTasks"`
	}
	lunResizedJSON struct {
		lunRef
		OldSizeBytes uint64 `json:"oldSizeBytes"`
		SizeBytes    uint64 `json:"sizeBytes"`
	}
	aclJSON struct {
		Target    string `json:"target"`
		Initiator string `json:"initiator"`
		Network   string `json:"network"`
	}
	logoutJSON struct {
		TSIH   uint32 `json:"tsih"`
		Closed bool   `json:"closed"` // the initiator did not log out in time
	}
	faultsJSON struct {
		lunRef
		Faults int `json:"faults"`
	}
	applyJSON struct {
		Changes []string `json:"changes"`
		Applied bool     `json:"applied"`
		DryRun  bool     `json:"dryRun"`
	}
)

// orEmpty makes a nil slice an empty one, so JSON shows [] and never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func toLunJSON(l *pb.LunInfo) lunJSON {
	return lunJSON{Target: l.Target, Initiator: l.Initiator, ID: l.Id, Backend: l.Backend, Path: l.Path,
		SizeBytes: l.SizeBytes, BlockSize: l.BlockSize, ReadOnly: l.ReadOnly, Workers: l.Workers, IoPolicy: l.IoPolicy,
		Faults: l.Faults, State: lunState(l), Reason: l.Reason}
}

// lunState is a LUN's state; a daemon that reports none knows only online LUNs.
func lunState(l *pb.LunInfo) string {
	if l.State == "" {
		return "online"
	}
	return l.State
}

func toSessionJSON(s *pb.SessionInfo) sessionJSON {
	keys := map[string]string{}
	maps.Copy(keys, s.Keys)
	return sessionJSON{Initiator: s.Initiator, Target: s.Target, TSIH: s.Tsih, ISID: s.Isid, Address: s.Address,
		Portal: s.Portal, Keys: keys, TasksInFlight: s.TasksInFlight, BytesRead: s.BytesRead,
		BytesWritten: s.BytesWritten, UptimeSeconds: s.UptimeSeconds}
}

func toTargetJSON(t *pb.TargetInfo) targetJSON {
	return targetJSON{Name: t.Name, Alias: t.Alias, Luns: orEmpty(t.Luns), Sessions: t.Sessions,
		AllowedInitiators: orEmpty(t.AllowedInitiators), AllowedNetworks: orEmpty(t.AllowedNetworks),
		OwnLunsInitiators: orEmpty(t.OwnLunsInitiators), Chap: t.Chap}
}

func toStatsJSON(s *pb.LunStats) lunStatsJSON {
	return lunStatsJSON{Target: s.Target, Initiator: s.Initiator, ID: s.Id, Reads: s.Reads, Writes: s.Writes,
		BytesRead: s.BytesRead, BytesWritten: s.BytesWritten, OtherCommands: s.OtherCommands, Errors: s.Errors,
		TasksInFlight: s.TasksInFlight, WorkerRestarts: s.WorkerRestarts, AbandonedIOs: s.AbandonedIos, FaultsFired: s.FaultsFired}
}

// convert maps a list of messages to their JSON structs; [] when empty.
func convert[M, J any](in []M, f func(M) J) []J {
	out := make([]J, 0, len(in))
	for _, m := range in {
		out = append(out, f(m))
	}
	return out
}

// writeJSON prints v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; call row for each line, then flush.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// human renders a byte count for people: exact units when it is one (10 GiB),
// otherwise one decimal (1.5 GiB); bytes below 1 KiB as such.
func human(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i, v := 0, float64(n)
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(uint64(v)) {
		return fmt.Sprintf("%d %s", uint64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// joinOrDash lists values comma-separated, "-" when none.
func joinOrDash(s []string) string { return orDash(strings.Join(s, ",")) }

// duration renders seconds for people, to the second.
func duration(sec float64) string {
	return time.Duration(sec * float64(time.Second)).Round(time.Second).String()
}

// sortedKeys returns a map's keys in order, for stable output.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
