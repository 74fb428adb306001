// Package target is the root of atgt's actor tree: it validates the configuration,
// opens the LUN backends and listeners, and spawns the session manager, command
// dispatcher, LUN actors and portal listeners under one supervising actor (rootActor,
// root.go), which restarts any of them that fails.
package target
