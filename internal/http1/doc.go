// Package http1 reads and judges one HTTP/1.1 request head (RFC 9112,
// https://www.rfc-editor.org/rfc/rfc9112): it collects the head in a
// caller's buffer within hellod's limits and decides the outcome hellod
// answers it with, byte for byte as net/http.ReadRequest (with net/url and
// net/textproto of this Go release) plus the checks of net/http's server
// would decide; the tests hold net/http as the reference and FuzzParser
// compares the two.
//
// Both child strategies run this parser (through internal/respond), and in
// a fork child it runs between clone(2) and exit_group(2) on a stack of its
// own (see internal/forkchild's CONTRACT). So every function here is plain
// Go that allocates nothing, calls nothing of the runtime, takes no lock,
// writes no pointer through a pointer and bounds its indexes by hand; each
// carries //go:norace and //go:nocheckptr. It is not //go:nosplit: its
// prologues check the stack against the fork child's stand-in g. Hence
// fuzz and coverage instrumentation no longer overflow anything, and the
// parser is fuzzed as it is, with no generated twin.
package http1
