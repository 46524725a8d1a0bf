// Package respond is the one responder both child strategies run: on a
// blocking stream socket it reads HTTP/1.1 request heads within absolute
// deadlines, classifies them with internal/http1 and sends the responses
// the caller prepared with internal/response, keeping the connection
// between requests when the request, the response and the limits allow
// it (RFC 9112 section 9.3, https://www.rfc-editor.org/rfc/rfc9112),
// records what it does in its internal/scoreboard Slot, lingers when the
// client may still be sending at the close, and returns the last outcome.
//
// Serve and what it calls run in a fork child between clone(2) and
// exit_group(2) (internal/forkchild's CONTRACT): raw system calls only, no
// allocation, no runtime calls, no package variables, bounded indexes,
// //go:norace and //go:nocheckptr on every function. The exec child runs
// Serve on a thread of its own the same way. Table.Build and Table.Place
// run before, in the caller.
package respond

import (
	"time"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/response"
)

// ConnFD is the descriptor number on which a child finds its connection.
const ConnFD = 3

// A child, of either strategy, makes itself the out-of-memory killer's
// first choice before it reads a byte: it writes OOMScoreAdj to
// OOMScoreAdjPath (raising one's own score needs no privilege, see
// proc_pid_oom_score_adj(5)), so that under a memory limit the kernel kills
// children, which lose one connection each, and never the parent, which
// would lose the service.
const (
	OOMScoreAdjPath = "/proc/self/oom_score_adj"
	OOMScoreAdj     = "1000"
)

// Settings are what a child needs to serve: the body of a 200 and its
// deadlines, counted from the child's start.
type Settings struct {
	Message       string
	HeaderTimeout time.Duration // request header must be complete by then
	ChildTimeout  time.Duration // nothing is read or written after this

	// KeepAliveTimeout is the longest wait for the next request of a
	// persistent connection (0: close after every response).
	// KeepAliveRequests bounds the responses on one connection; the last
	// one says Connection: close.
	KeepAliveTimeout  time.Duration
	KeepAliveRequests int

	// Sandbox: the child installs internal/sandbox's seccomp filter (and
	// no_new_privs) before it reads its connection.
	Sandbox bool
}

// WriteTimeout bounds the writing of one response, which may begin just
// before the child's lifetime (ChildTimeout) ends: a child never stops
// mid-response. Overrun is the longest a child may run past its lifetime
// (a response's writing, then lingering): the parent kills a child only
// after ChildTimeout + Overrun.
const (
	WriteTimeout = 5 * time.Second
	Overrun      = WriteTimeout + lingerTime
)

// Limits are Settings as Serve reads them: nanoseconds, and the parser's
// StrictColons, computed by the caller (Settings.Limits).
type Limits struct {
	HeaderTimeout     int64 // a head must be complete this long after its first byte (the first: after the start)
	Lifetime          int64 // ChildTimeout: no request is read or answered after the start plus this
	KeepAliveTimeout  int64 // the longest wait for the next request (0: none)
	KeepAliveRequests int   // the most responses on one connection
	StrictColons      bool  // http1.StrictColons
}

// Limits returns s as Serve reads it.
func (s *Settings) Limits(strictColons bool) Limits {
	return Limits{
		HeaderTimeout:     int64(s.HeaderTimeout),
		Lifetime:          int64(s.ChildTimeout),
		KeepAliveTimeout:  int64(s.KeepAliveTimeout),
		KeepAliveRequests: s.KeepAliveRequests,
		StrictColons:      strictColons,
	}
}

// lingerTime and lingerBytes bound how long and how much a child keeps
// reading after its response so that unread request bytes do not make the
// kernel reset the connection before the client has read it.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// MaxDiscard bounds a request body (Content-Length) that Serve reads and
// drops to keep the connection; a larger one (or a chunked one) closes it.
const MaxDiscard = 64 << 10

// maxBatch bounds the pipelined responses that leave in one write.
const maxBatch = 16

// Slots bounds the outcome codes that index a Table.
const Slots = 32

// Table holds the complete responses for each outcome in each variant
// (response.Conn; nil for outcomes that send none, and for the persistent
// variants of the responses that close: every error does), with where
// their Dates are, to rewrite in place (SetDate).
type Table struct {
	resp [Slots][response.Conns][]byte
	date [Slots][response.Conns]int32 // offset of the Date's value, -1: none
	sec  int64                        // Unix second of the Dates
}

// Build prepares the responses with body message and now's Date in t,
// reusing t's buffers, and returns their total size. It allocates: it runs
// before Serve, never in a fork child.
func (t *Table) Build(message string, now time.Time) int {
	n := 0
	for o := range t.resp {
		for c := range t.resp[o] {
			t.resp[o][c], t.date[o][c] = t.resp[o][c][:0], -1
		}
	}
	for _, o := range response.Responses {
		for c := response.Close; c < response.Conns; c++ {
			if c != response.Close && o != response.OKGet && o != response.OKHead {
				break
			}
			b, at := response.AppendConn(t.resp[o][c], o, message, now, c)
			t.resp[o][c], t.date[o][c] = b, int32(at)
			n += len(b)
		}
	}
	t.sec = now.Unix()
	return n
}

// Place copies t's responses into b, one after the other, and makes dst
// (which may live in b's mapping, outside the Go heap) a Table of the
// copies. It reports false, changing nothing, when they do not fit. It
// runs in the caller, before a fork.
func (t *Table) Place(dst *Table, b []byte) bool {
	total := 0
	for o := range t.resp {
		for _, r := range t.resp[o] {
			total += len(r)
		}
	}
	if total > len(b) {
		return false
	}
	off := 0
	for o := range t.resp {
		for c, r := range t.resp[o] {
			n := copy(b[off:], r)
			// A slice of non-heap memory stored in non-heap memory: the
			// GC neither scans nor frees either.
			dst.resp[o][c] = b[off : off+n : off+n]
			if n == 0 {
				dst.resp[o][c] = nil
			}
			dst.date[o][c] = t.date[o][c]
			off += n
		}
	}
	dst.sec = t.sec
	return true
}

// Second is the Unix second of t's Dates.
func (t *Table) Second() int64 { return t.sec }

// SetDate rewrites the Date of every response in place to sec (Unix
// seconds) unless they have it already. It allocates nothing and calls
// only response.PutDate: a fork child keeps its Dates current with it.
//
//go:norace
//go:nocheckptr
func (t *Table) SetDate(sec int64) {
	if sec == t.sec {
		return
	}
	for o := 0; o < Slots; o++ {
		for c := 0; c < int(response.Conns); c++ {
			r, at := t.resp[o][c], int(t.date[o][c])
			if at >= 0 && at <= len(r) {
				response.PutDate(r[at:], sec)
			}
		}
	}
	t.sec = sec
}

// Response returns the response bytes for o in variant c (nil for outcomes
// that send none).
//
//go:norace
//go:nocheckptr
func (t *Table) Response(o response.Outcome, c response.Conn) []byte {
	if int(o) >= Slots || c >= response.Conns {
		return nil
	}
	return t.resp[o][c]
}

// Buffer is where Serve reads the request heads.
type Buffer [http1.BufSize]byte
