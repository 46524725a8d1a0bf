package respond

import (
	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
)

// Serve answers the HTTP requests on the connected stream socket fd (made
// blocking if it is not) with the responses of t, reading them into buf,
// recording its state in slot, within l's limits counted from start
// (CLOCK_MONOTONIC nanoseconds, see Now), and returns the outcome of the
// last request: ClientGone when none came, WriteFailed when a response
// could not be written. It does not close fd.
//
// The loop: read a head (its header timeout from its first byte, the
// first one's from start, never past the lifetime start+l.Lifetime),
// classify it and answer it; keep the connection when the request lets it
// persist, the response is a 200, a body (Content-Length up to MaxDiscard)
// can be read and dropped, fewer than l.KeepAliveRequests were answered,
// the slot is not Stopped and l.KeepAliveTimeout is not zero; the response
// says which (response.Conn). Heads already complete in buf (pipelining)
// are answered in the same write, up to maxBatch. Between requests the
// slot is Idle while Serve waits (poll) at most l.KeepAliveTimeout for the
// next byte, then Wakes: a slot the parent claimed meanwhile ends the loop
// without reading. The lifetime is checked between responses: a response
// begun is written within WriteTimeout.
//
//go:norace
//go:nocheckptr
func Serve(fd int, t *Table, buf *Buffer, slot *scoreboard.Slot, l *Limits, start int64) response.Outcome {
	// h and q hold no pointers: writing them through a pointer needs no
	// write barrier (a runtime call, and a fork parent may have forked
	// mid-GC).
	var h http1.Scanner
	var q batch
	makeBlocking(fd)
	lifetime := start + l.Lifetime
	// now is the time of the last wait's end (or of the child's start),
	// which the steps up to the next wait use: a clock read is a system
	// call here (no vDSO), and between two waits pass microseconds. The
	// Date comes from the same clock (wallOff: CLOCK_REALTIME's offset at
	// the start; a connection lives at most its lifetime).
	now := Now()
	wallOff := wallNanos() - now
	slot.Set(scoreboard.Reading, now)
	h.Reset()
	o := readHead(fd, buf, min(start+l.HeaderTimeout, lifetime), &h)
	now = Now() // the first head may have been slow to come
	last, served := response.ClientGone, 0
	for {
		if o == response.ClientGone {
			return finish(slot, last)
		}
		req := http1.Request{Outcome: o, Body: -1}
		if o == http1.Complete {
			req = h.Classify(buf[:], l.StrictColons)
		}
		o = req.Outcome
		ok := o == response.OKGet || o == response.OKHead
		keep := ok && req.KeepAlive && req.Body >= 0 && req.Body <= MaxDiscard && l.KeepAliveTimeout > 0 &&
			served+1 < l.KeepAliveRequests && !slot.Stopped()
		c := response.Close
		switch {
		case keep && req.HTTP10:
			c = response.KeepAlive10
		case keep:
			c = response.KeepAlive
		}
		if q.n == 0 {
			t.SetDate((now + wallOff) / 1e9)
		}
		q.add(t, o, c)
		served++
		if !keep {
			if !q.flush(t, fd, slot, now) {
				return finish(slot, response.WriteFailed)
			}
			// Unread bytes at close make the kernel reset the connection,
			// which can destroy the response before the client reads it.
			// Linger when the client may still be sending: a declared
			// body, bytes already waiting, or a request rejected before
			// its framing was known.
			if req.Body != 0 || h.Extra() || !ok || pending(fd) {
				slot.Set(scoreboard.Lingering, Now())
				linger(fd, buf)
			}
			return finish(slot, o)
		}
		next, complete, left := h.Next(buf[:], req.Body)
		if complete && q.n < maxBatch && now < lifetime {
			o = next // a pipelined head, already here: its response joins the batch
			continue
		}
		if !q.flush(t, fd, slot, now) {
			return finish(slot, response.WriteFailed)
		}
		last = o
		if now >= lifetime {
			return closing(fd, buf, slot, last, complete || buffered(&h, buf))
		}
		if complete {
			o = next
			continue
		}
		if left > 0 {
			slot.Set(scoreboard.Reading, Now())
			if !discard(fd, buf, left, min(Now()+l.HeaderTimeout, lifetime)) {
				return finish(slot, last)
			}
			now = Now()
		}
		if !buffered(&h, buf) {
			slot.Set(scoreboard.Idle, now)
			// Idle first, then the stop flag: the parent stops every slot
			// first, then claims the idle ones, so either this child sees
			// the flag or the parent sees it idle (and kills it).
			if slot.Stopped() {
				return finish(slot, last)
			}
			if !waitReadable(fd, now, min(now+l.KeepAliveTimeout, lifetime)) {
				return finish(slot, last)
			}
			now = Now()
			if !slot.Wake(now) {
				return last // claimed (Closing): the parent kills this child
			}
		} else {
			slot.Set(scoreboard.Reading, now)
		}
		if now >= lifetime { // it ran out while the client was quiet
			return closing(fd, buf, slot, last, true)
		}
		o = readHead(fd, buf, min(now+l.HeaderTimeout, lifetime), &h)
		if o == response.RequestTimeout && !buffered(&h, buf) {
			// Nothing of a request (empty lines at most) by the deadline:
			// the connection ends between responses, without a 408.
			return closing(fd, buf, slot, last, false)
		}
	}
}

// closing ends the connection after the responses sent (the last one's
// outcome o), lingering first when more may be coming or is waiting.
//
//go:norace
//go:nocheckptr
func closing(fd int, buf *Buffer, slot *scoreboard.Slot, o response.Outcome, more bool) response.Outcome {
	if more || pending(fd) {
		slot.Set(scoreboard.Lingering, Now())
		linger(fd, buf)
	}
	return finish(slot, o)
}

// finish records that the child is done and returns o.
//
//go:norace
//go:nocheckptr
func finish(slot *scoreboard.Slot, o response.Outcome) response.Outcome {
	slot.Set(scoreboard.Done, Now())
	return o
}

// add queues t's response to o in variant c (nothing for outcomes that
// send none).
//
//go:norace
//go:nocheckptr
func (q *batch) add(t *Table, o response.Outcome, c response.Conn) {
	if len(t.Response(o, c)) == 0 || q.n >= maxBatch || q.n < 0 {
		return
	}
	q.outc[q.n], q.conn[q.n] = o, c
	q.n++
}

// flush writes the queued responses within WriteTimeout, counts them in
// slot (Writing since now) and empties q.
//
//go:norace
//go:nocheckptr
func (q *batch) flush(t *Table, fd int, slot *scoreboard.Slot, now int64) bool {
	if q.n == 0 {
		return true
	}
	slot.Set(scoreboard.Writing, now)
	if !q.sendv(t, fd) {
		return false
	}
	for i := 0; i < q.n && i < maxBatch; i++ {
		slot.Served(uint8(q.outc[i]), len(t.Response(q.outc[i], q.conn[i])))
	}
	q.n = 0
	return true
}

// buffered reports whether bytes of the next head are in buf already.
// (Free is where the next read goes: past them.)
//
//go:norace
//go:nocheckptr
func buffered(h *http1.Scanner, buf *Buffer) bool {
	f := h.Free(buf[:])
	return len(f) == 0 || cap(f) < len(buf)
}

// readHead reads into buf until h has a complete head (http1.Complete,
// for the caller to classify) or an outcome, by deadline.
//
//go:norace
//go:nocheckptr
func readHead(fd int, buf *Buffer, deadline int64, h *http1.Scanner) response.Outcome {
	for first := true; ; first = false {
		free := h.Free(buf[:])
		if len(free) == 0 {
			return response.HeaderTooLarge // not reached: the limits stop reading first
		}
		// Only the first read of a head may skip the deadline's check: a
		// head that keeps coming in pieces is read within it.
		n := read(fd, free, deadline, first)
		if n <= 0 {
			return h.Ended(buf[:], n)
		}
		if o, done := h.Feed(buf[:], n); done {
			return o
		}
	}
}
