// Package target is the root of atgt's actor tree: it validates the configuration,
// opens the LUN backends and listeners, and spawns the session manager, command
// dispatcher, LUN actors and portal listeners under one supervising actor (rootActor,
// root.go), whose strategy (supervision.go) answers the message a failed child held and
// restarts it, or resumes the session manager, never stopping any.
package target
