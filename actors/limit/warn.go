package limit

import "github.com/hashicorp/go-hclog"

// LogRefusal logs msg with args at warn when mayWarn (Guard.MayWarn, or nil: always)
// lets a line of kind out now, naming how many were held back since the last
// (refusals_logged_at_info), and at info otherwise: a peer that is refused many
// times a second (a login, a target reset) must not flood the log, and each refusal
// is still there at info.
func LogRefusal(log hclog.Logger, mayWarn func(kind string) (bool, int), kind, msg string, args ...any) {
	warn, held := true, 0
	if mayWarn != nil {
		warn, held = mayWarn(kind)
	}
	if !warn {
		log.Info(msg, args...)
		return
	}
	if held > 0 {
		args = append(args, "refusals_logged_at_info", held)
	}
	log.Warn(msg, args...)
}
