// Package http1 reads and judges HTTP/1.1 request heads (RFC 9112,
// https://www.rfc-editor.org/rfc/rfc9112): it collects a head in a
// caller's buffer within hellod's limits, decides the outcome hellod
// answers it with and whether the connection may persist, and moves on to
// the next pipelined head (Scanner.Next). It decides byte for byte as
// net/http.ReadRequest (with net/url and net/textproto of this Go release)
// plus the checks of net/http's server would, and judges the request line
// as soon as it ends, as net/http does; where the RFC and net/http
// disagree the RFC wins: the Host grammar (host.go), the asterisk form
// only for OPTIONS (line.go), transfer codings (fields.go) and
// Transfer-Encoding in HTTP/1.0 (classify.go). The tests hold net/http,
// with those rules, as the reference; FuzzParser and FuzzPipeline compare
// the two.
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
