// Package metrics counts what atgt does, for Prometheus, without slowing the data path.
//
// The counting side is plain atomics in structs resolved once, when a LUN or a
// connection starts: a LUN's counters are split into shards, one for the LUN actor
// and one per IO worker slot, so that each shard has (almost always) one writer
// and no IO takes a lock, looks up a label or allocates. The reading side is a
// prometheus.Collector (Registry) that sums the shards when it is scraped and
// turns them into const metrics, so a scrape costs the IO path nothing.
//
// Every method on the counting side is safe on a nil receiver and then does
// nothing, so a LUN or connection without metrics pays one nil check.
package metrics
