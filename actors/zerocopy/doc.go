// Package zerocopy sends the data of large READs from the page cache to the
// initiator with sendfile(2), as the paper's target does with sendpage: the IO
// worker only checks that the blocks are cached, and the connection's writer hands
// the kernel file pages instead of copying them through a buffer.
//
// Sending from the page cache moves the moment the data is read from the worker to
// the writer, after the LUN has seen the worker finish. The task therefore stays
// counted in its LUN's task set until it is on the wire (or dropped), so an ORDERED
// task that follows still waits for it (SAM-5 8.6). A Ledger, one per connection,
// guarantees the count ends exactly once, even when the connection dies with
// answers still on their way to it.
//
// Only data already in the page cache goes this way: a READ of uncached blocks is
// read by its worker as before, so disk waits stay in the IO workers and an IO error
// still becomes CHECK CONDITION with MEDIUM ERROR. If a page is evicted between the
// check and the send and the disk then fails, the error can only cut the connection
// (its Data-In header is already out), and the initiator retries the command.
package zerocopy
