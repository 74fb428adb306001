package backend

// ExclusiveOwner is a shared backend whose writers take an exclusive lock (RBD's):
// several gateways may open the same image, and the one holding the lock is the one
// that writes without a lock handoff, so ALUA reports it active/optimized. The lock
// is managed by the store (librbd's exclusive-lock feature): a peer that dies loses it
// once the cluster notices (its watch times out), and a live holder is asked to hand
// it over only by the store's own cooperative protocol.
type ExclusiveOwner interface {
	// IsLockOwner reports whether this client holds the exclusive lock now.
	IsLockOwner() (bool, error)
	// AcquireLock takes the exclusive lock; it fails if a live peer holds it.
	AcquireLock() error
	// ReleaseLock gives the lock up so a peer may take it.
	ReleaseLock() error
}
