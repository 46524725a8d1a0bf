// Package respond is the one responder both child strategies run: it reads
// one HTTP/1.1 request head from a blocking stream socket within absolute
// deadlines, classifies it with internal/http1, sends the response the
// caller prepared with internal/response, lingers when the client may still
// be sending, and returns the outcome (RFC 9112,
// https://www.rfc-editor.org/rfc/rfc9112).
//
// Serve and what it calls run in a fork child between clone(2) and
// exit_group(2) (internal/forkchild's CONTRACT): raw system calls only, no
// allocation, no runtime calls, no package variables, bounded indexes,
// //go:norace and //go:nocheckptr on every function. The exec child calls
// Serve from its main goroutine. Table.Build runs before, in the caller.
package respond

import (
	"syscall"
	"time"
	"unsafe"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// ConnFD is the descriptor number on which a child finds its connection.
const ConnFD = 3

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

// lingerTime and lingerBytes bound how long and how much a child keeps
// reading after its response so that unread request bytes do not make the
// kernel reset the connection before the client has read it.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// Slots bounds the outcome codes that index a Table.
const Slots = 32

// Table holds the complete response for each outcome (nil for outcomes
// that send none).
type Table [Slots][]byte

// Build prepares the responses with body message and now's Date in t,
// reusing t's buffers, and returns their total size. It allocates: it runs
// before Serve, never in a fork child.
func (t *Table) Build(message string, now time.Time) int {
	n := 0
	for _, o := range response.Responses {
		t[o] = response.Append(t[o][:0], o, message, now)
		n += len(t[o])
	}
	return n
}

// Buffer is where Serve reads the request head.
type Buffer [http1.BufSize]byte

// Serve answers one HTTP request on the connected stream socket fd (made
// blocking if it is not) with the responses of t and returns the outcome.
// It reads the head into buf until headerDeadline and neither reads nor
// writes after deadline (CLOCK_MONOTONIC nanoseconds, see Now). strictColons is
// http1.StrictColons, computed by the caller. It does not close fd.
//
//go:norace
//go:nocheckptr
func Serve(fd int, t *Table, buf *Buffer, headerDeadline, deadline int64, strictColons bool) response.Outcome {
	// h holds no pointers: writing it through a pointer needs no write
	// barrier (a runtime call, and a fork parent may have forked mid-GC).
	var h http1.Scanner
	body := false
	// The socket timeouts need a blocking socket (a non-blocking one would
	// spin on EAGAIN until the deadline).
	if fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0); e == 0 && fl&syscall.O_NONBLOCK != 0 {
		syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, fl&^syscall.O_NONBLOCK)
	}
	o := readHead(fd, buf, min(headerDeadline, deadline), &h)
	if o == http1.Complete {
		req := h.Classify(buf[:], strictColons)
		o, body = req.Outcome, req.Body != 0
	}
	if o == response.ClientGone {
		return o
	}
	if !send(fd, t.pick(o), deadline) {
		return response.WriteFailed
	}
	// Unread bytes at close make the kernel reset the connection, which
	// can destroy the response before the client reads it. Linger when the
	// client may still be sending: a declared body, bytes already waiting,
	// or a request rejected before its framing was known.
	if body || h.Extra() || (o != response.OKGet && o != response.OKHead) || pending(fd) {
		linger(fd, buf, deadline)
	}
	return o
}

// Now is CLOCK_MONOTONIC in nanoseconds (a real system call: no vDSO,
// which a fork child may not have).
//
//go:norace
//go:nocheckptr
func Now() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Sec*1e9 + ts.Nsec
}

// readHead reads the request head into buf by deadline. For a complete
// head it returns http1.Complete, the head being h's, for the caller to
// classify.
//
//go:norace
//go:nocheckptr
func readHead(fd int, buf *Buffer, deadline int64, h *http1.Scanner) response.Outcome {
	h.Reset()
	for {
		free := h.Free(buf[:])
		if len(free) == 0 {
			return response.HeaderTooLarge // not reached: the limits stop reading first
		}
		n := read(fd, free, deadline)
		if n <= 0 {
			return h.Ended(buf[:], n)
		}
		if o, done := h.Feed(buf[:], n); done {
			return o
		}
	}
}

// setTimeout sets opt (SO_RCVTIMEO or SO_SNDTIMEO) on fd to what remains
// until deadline, rounded up to a microsecond. It returns false when
// nothing remains.
//
//go:norace
//go:nocheckptr
func setTimeout(fd, opt int, deadline int64) bool {
	rem := deadline - Now()
	if rem <= 0 {
		return false
	}
	us := (rem + 999) / 1000
	tv := syscall.Timeval{Sec: us / 1e6, Usec: us % 1e6}
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, uintptr(opt),
		uintptr(unsafe.Pointer(&tv)), unsafe.Sizeof(tv), 0)
	return e == 0
}

// read reads into p (not empty) with SO_RCVTIMEO until deadline. It returns
// the byte count, or http1.EndOfStream, http1.TimedOut or http1.ReadFailed.
//
//go:norace
//go:nocheckptr
func read(fd int, p []byte, deadline int64) int {
	for {
		if !setTimeout(fd, syscall.SO_RCVTIMEO, deadline) {
			return http1.TimedOut
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(n)
		case syscall.EINTR, syscall.EAGAIN:
			// EAGAIN: SO_RCVTIMEO ran out, which the kernel may count a
			// little short of deadline; setTimeout decides whether any
			// time is left.
			continue
		}
		return http1.ReadFailed
	}
}

// send writes all of p with MSG_NOSIGNAL and SO_SNDTIMEO until deadline.
//
//go:norace
//go:nocheckptr
func send(fd int, p []byte, deadline int64) bool {
	for len(p) > 0 {
		if !setTimeout(fd, syscall.SO_SNDTIMEO, deadline) {
			return false
		}
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == syscall.EINTR, e == syscall.EAGAIN: // EAGAIN: as in read
			continue
		case e != 0:
			return false
		}
		p = p[n:]
	}
	return true
}

// pending reports whether received bytes wait unread (SIOCINQ), or it
// cannot tell.
//
//go:norace
//go:nocheckptr
func pending(fd int) bool {
	var n int32
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), unix.SIOCINQ, uintptr(unsafe.Pointer(&n)))
	return e != 0 || n > 0
}

// linger half-closes the connection and reads and drops what the client
// still sends, up to lingerBytes for up to lingerTime (within the child's
// deadline), so that closing with unread data (a request body, pipelined
// requests) does not reset the connection under the client before it has
// read the response (RFC 9112 section 9.6).
//
//go:norace
//go:nocheckptr
func linger(fd int, b *Buffer, childDeadline int64) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SHUTDOWN, uintptr(fd), syscall.SHUT_WR, 0); e != 0 {
		return
	}
	deadline := min(Now()+int64(lingerTime), childDeadline)
	buf := b[:4096]
	for n := 0; n < lingerBytes; {
		m := read(fd, buf, deadline)
		if m <= 0 {
			return
		}
		n += m
	}
}

// pick returns the response bytes for o (nil for outcomes that send none).
//
//go:norace
//go:nocheckptr
func (t *Table) pick(o response.Outcome) []byte {
	if int(o) >= len(t) {
		return nil
	}
	return t[o]
}
