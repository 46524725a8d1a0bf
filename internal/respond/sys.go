package respond

import (
	"syscall"
	"unsafe"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// The system calls of the responder, all raw (internal/forkchild's
// CONTRACT).

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

// wallNanos is CLOCK_REALTIME in nanoseconds, for the Date.
//
//go:norace
//go:nocheckptr
func wallNanos() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, unix.CLOCK_REALTIME, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Sec*1e9 + ts.Nsec
}

// makeBlocking clears O_NONBLOCK on fd: the socket timeouts need a
// blocking socket (a non-blocking one would spin on EAGAIN until the
// deadline).
//
//go:norace
//go:nocheckptr
func makeBlocking(fd int) {
	if fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0); e == 0 && fl&syscall.O_NONBLOCK != 0 {
		syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, fl&^syscall.O_NONBLOCK)
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
// With waiting set, bytes that are there already are taken first without
// a timeout (MSG_DONTWAIT): a head sent at once, or after ppoll said so,
// costs one system call instead of three.
//
//go:norace
//go:nocheckptr
func read(fd int, p []byte, deadline int64, waiting bool) int {
	if waiting {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return int(n)
		case syscall.EINTR, syscall.EAGAIN:
		default:
			return http1.ReadFailed
		}
	}
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

// batch is the responses waiting to leave in one write: their outcomes
// and variants, which index the Table (no pointers: q lives on the stack,
// and writing a pointer through q would need a write barrier).
type batch struct {
	n    int
	outc [maxBatch]response.Outcome
	conn [maxBatch]response.Conn
}

// iovec and msghdr are struct iovec and struct msghdr of sendmsg(2),
// without Go pointers (none to write through, as in batch).
type iovec struct{ base, len uintptr }

type msghdr struct {
	name       uintptr
	namelen    uint32
	iov        uintptr
	iovlen     uintptr
	control    uintptr
	controllen uintptr
	flags      int32
}

// sendv writes q's responses from t with one sendmsg(2) (MSG_NOSIGNAL)
// and more only when the socket takes less: the first try does not wait
// (MSG_DONTWAIT; the socket's buffer almost always has room), the next
// ones wait with SO_SNDTIMEO until WriteTimeout from the first wait.
//
//go:norace
//go:nocheckptr
func (q *batch) sendv(t *Table, fd int) bool {
	var iov [maxBatch]iovec
	first, skip := 0, 0 // the first response not yet written whole, and its bytes written
	flags := uintptr(syscall.MSG_NOSIGNAL | syscall.MSG_DONTWAIT)
	deadline := int64(0)
	for {
		for first < q.n && first < maxBatch && skip >= len(t.Response(q.outc[first], q.conn[first])) {
			first, skip = first+1, 0
		}
		if first >= q.n || first >= maxBatch {
			return true
		}
		if flags&syscall.MSG_DONTWAIT == 0 && !setTimeout(fd, syscall.SO_SNDTIMEO, deadline) {
			return false
		}
		// iov holds the addresses of t's bytes (which do not move) and msg
		// the address of iov, on this stack: no call between msg and the
		// system call, where a goroutine's stack could move (the unit
		// tests run Serve on one).
		k := 0
		for i := first; i < q.n && i < maxBatch; i++ {
			p := t.Response(q.outc[i], q.conn[i])
			if i == first {
				p = p[skip:]
			}
			if len(p) > 0 {
				iov[k] = iovec{uintptr(unsafe.Pointer(&p[0])), uintptr(len(p))}
				k++
			}
		}
		msg := msghdr{iov: uintptr(unsafe.Pointer(&iov[0])), iovlen: uintptr(k)}
		n, _, e := syscall.RawSyscall(syscall.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), flags)
		if flags&syscall.MSG_DONTWAIT != 0 {
			flags = syscall.MSG_NOSIGNAL // from now on, wait
			deadline = Now() + int64(WriteTimeout)
		}
		switch {
		case e == syscall.EINTR, e == syscall.EAGAIN: // EAGAIN: as in read
			continue
		case e != 0:
			return false
		}
		for left := int(n); left > 0 && first < q.n && first < maxBatch; {
			rest := len(t.Response(q.outc[first], q.conn[first])) - skip
			if left < rest {
				skip += left
				break
			}
			left -= rest
			first, skip = first+1, 0
		}
	}
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

// waitReadable waits with ppoll(2) until fd has a byte to read (or its end
// of stream, or an error) and reports whether it came before deadline
// (now is the current time).
//
//go:norace
//go:nocheckptr
func waitReadable(fd int, now, deadline int64) bool {
	for first := true; ; first = false {
		if !first {
			now = Now()
		}
		rem := deadline - now
		if rem <= 0 {
			return false
		}
		pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		ts := syscall.Timespec{Sec: rem / 1e9, Nsec: rem % 1e9}
		n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == syscall.EINTR, e == 0 && n == 0: // a timeout a little short: as in read
			continue
		case e != 0:
			return false
		}
		return pfd.Revents != 0
	}
}

// discard reads and drops n bytes (a request body) into b by deadline and
// reports whether they all came.
//
//go:norace
//go:nocheckptr
func discard(fd int, b *Buffer, n int64, deadline int64) bool {
	for n > 0 {
		p := b[:]
		if int64(len(p)) > n {
			p = p[:n]
		}
		m := read(fd, p, deadline, false)
		if m <= 0 {
			return false
		}
		n -= int64(m)
	}
	return true
}

// linger half-closes the connection and reads and drops what the client
// still sends, up to lingerBytes for up to lingerTime, so that closing
// with unread data (a request body, pipelined requests) does not reset the
// connection under the client before it has read the response (RFC 9112
// section 9.6).
//
//go:norace
//go:nocheckptr
func linger(fd int, b *Buffer) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SHUTDOWN, uintptr(fd), syscall.SHUT_WR, 0); e != 0 {
		return
	}
	deadline := Now() + int64(lingerTime)
	buf := b[:4096]
	for n := 0; n < lingerBytes; {
		m := read(fd, buf, deadline, false)
		if m <= 0 {
			return
		}
		n += m
	}
}
