// Package target is the root of atgt's actor tree: it validates the configuration,
// opens the LUN backends and listeners, and spawns the session manager, command
// dispatcher, LUN actors and portal listeners under one supervising actor (rootActor,
// root.go), whose strategy (supervision.go) answers the message a failed child held and
// restarts it, or resumes the session manager, never stopping any.
//
// It is also the package a Go program imports to embed a target: StartWith with
// Options.System or Options.Parent hosts the tree in the program's own protoactor
// ActorSystem, Options.Backends serves LUNs from the program's own backends by name,
// and the returned *Service is the handle (see the examples and embed.go).
package target
