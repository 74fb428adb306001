package target

import (
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/actors/supervise"
)

// Kinds of the root's children, for the strategy's decisions and the log.
const (
	kindLUN        = "lun"
	kindDispatcher = "dispatcher"
	kindSessions   = "session manager"
	kindPortal     = "portal"
)

// rootStrategy is the root's supervision. No child is ever stopped or escalated:
// each can be rebuilt from what the service holds (config, open backends and
// listeners), or keeps its state, and its PID survives a restart or a resume, so the
// routes, the sessions' dispatcher and the portals' session manager stay valid; a
// stopped child would leave a dead address that tasks or connections vanish into.
// While a child keeps failing, each restart or resume waits a little longer, so that
// one that fails as soon as it starts does not spin.
//
// By child (see directive; the README's supervision table says what initiators see):
//   - LUN: restart. protoactor stops its IO workers first (their queued IoRequests
//     are dropped unanswered), then a new LUN actor starts over the same device model,
//     backend and reservation table and spawns new workers; the task it failed on
//     and the tasks it held are not answered (their initiators time out and retry).
//     actors/lun is to rebuild and answer them (issue 12, item 5).
//   - dispatcher: the message in hand answered (dispatcher.Failed), then restart from
//     the same fixed routes.
//   - session manager: the message in hand answered (session.ManagerFailed), then
//     resume, not restart: protoactor stops a restarting actor's children, the
//     sessions, so a restart would end every session. Resumed, it keeps its TSIH
//     count and reinstatement keys, and a Resync drops those of sessions that ended.
//   - portal: restart, over the same listening socket; the accept loop runs on, or,
//     if it was the loop that failed, starts again.
type rootStrategy struct {
	log hclog.Logger
	// root is the root actor's PID id, set by the root as it starts: under an
	// embedder's actor it is "<parent>/<name>", not "target" (embed.go).
	root string
	// routes are the LUNs' PIDs, set by the root once it has spawned them, for
	// answering a NexusLoss the dispatcher failed on.
	routes *dispatcher.Table
	// window: failures of a child further apart than this start the backoff over.
	window time.Duration
	// step is added to the wait for each further failure within window, up to max.
	step, max time.Duration
}

// newRootStrategy returns the root's strategy: act at once, then 100 ms later for
// each failure within 30 s of the last, at most 5 s.
func newRootStrategy(log hclog.Logger) *rootStrategy {
	return &rootStrategy{log: log, window: 30 * time.Second, step: 100 * time.Millisecond, max: 5 * time.Second}
}

// directive is what the root does with a failed child of a kind.
func directive(kind string) actor.Directive {
	if kind == kindSessions {
		return actor.ResumeDirective
	}
	return actor.RestartDirective
}

// HandleFailure answers the message the child failed on, then restarts or resumes it
// (directive) after the backoff.
func (s *rootStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, message any) {
	kind := s.childKind(child)
	answered := "nothing"
	supervise.Guard(s.log, "answer the message a "+kind+" failed on", func() {
		answered = s.answer(sys, kind, actor.UnwrapEnvelopeMessage(message))
	})
	if rs.NumberOfFailures(s.window) == 0 {
		rs.Reset()
	}
	rs.Fail()
	wait := min(time.Duration(rs.FailureCount()-1)*s.step, s.max)
	d := directive(kind)
	s.log.Error("actor failed", "actor", kind, "pid", child.Id, "reason", fmt.Sprint(reason),
		"answered", answered, "directive", d.String(), "failures", rs.FailureCount(), "after", wait)
	act := func() {
		if d == actor.ResumeDirective {
			sup.ResumeChildren(child)
			if kind == kindSessions && sys != nil {
				sys.Root.Send(child, &session.Resync{})
			}
			return
		}
		sup.RestartChildren(child)
	}
	if wait == 0 {
		act()
		return
	}
	time.AfterFunc(wait, act)
}

// answer answers the message a child failed on, if its kind has anything to answer,
// and says what it did.
func (s *rootStrategy) answer(sys *actor.ActorSystem, kind string, message any) string {
	switch kind {
	case kindDispatcher:
		return dispatcher.Failed(func(pid *actor.PID, m any) { sys.Root.Send(pid, m) }, s.routes.Load(), message)
	case kindSessions:
		return session.ManagerFailed(s.log, message)
	}
	return "nothing"
}

// childKind names what a child of the root is.
func (s *rootStrategy) childKind(pid *actor.PID) string {
	name, ok := strings.CutPrefix(pid.Id, s.root+"/")
	if s.root == "" || !ok {
		_, name, _ = strings.Cut(pid.Id, "/") // after "target/"; a target name may hold a slash
	}
	switch {
	case strings.HasPrefix(name, lunPrefix):
		return kindLUN
	case strings.HasPrefix(name, portalPrefix):
		return kindPortal
	case name == dispatcherName:
		return kindDispatcher
	case name == sessionsName:
		return kindSessions
	}
	return "unknown"
}

// rootGuardian supervises the root itself: resume. protoactor's default would restart
// the root, which stops every child (every LUN and session) and spawns the tree again
// over listeners and backends that are already in use. The root cannot fail in
// practice (its start recovers, and its strategy guards its clean-up), so this only
// states what would happen. It has no fields, so that every root of a system shares
// one guardian: protoactor keeps a guardian per strategy value in the system's
// registry for the system's lifetime, and an embedder's system that starts and stops
// targets would otherwise keep one for each start. It logs through the system's
// logger (WithLogger).
type rootGuardian struct{}

// HandleFailure resumes the root.
func (rootGuardian) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	if sys != nil {
		sys.Logger().Error("root actor failed; resuming it", "pid", child.Id, "reason", fmt.Sprint(reason))
	}
	sup.ResumeChildren(child)
}
