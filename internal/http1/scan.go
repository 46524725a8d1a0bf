package http1

import "github.com/hellod/hellod/internal/response"

// Limits on what a child reads from its client.
const (
	// MaxTarget is the longest request target served; longer gets 414.
	MaxTarget = 8 << 10
	// MaxHeaderBytes bounds the header section after the request line,
	// including the empty line that ends it; more gets 431.
	MaxHeaderBytes = 8 << 10
	// maxRequestLine bounds the request line while it is read: the target
	// plus room for a method, two spaces, the version and CRLF.
	maxRequestLine = MaxTarget + 64
	// maxMethod is the longest method token recognised as one when the
	// request line overflows (414 rather than 400).
	maxMethod = 32
	// BufSize is the buffer a Scanner needs: a request line, a header
	// section and one read's overshoot.
	BufSize = maxRequestLine + MaxHeaderBytes + 8<<10
)

// Scanner collects a request head in a caller's buffer of BufSize bytes
// as the requests arrive: leading empty lines are dropped (RFC 9112 section
// 2.2), the request line and the header section are bounded. The zero
// Scanner is not ready: call Reset first.
type Scanner struct {
	w         int // bytes of head kept at the start of the buffer
	lineStart int
	lineEnd   int // end of the request line (after its LF), -1 before
	overflow  bool
	extra     bool // bytes after the head were read with it
	rs, re    int  // where those bytes are in the buffer
	strict    bool // StrictColons, for the request line's check
}

// tooLongFrag is where the third 4 KiB fragment of an overlong request
// line ends: what the reference (reference_test.go, around a 4 KiB
// bufio.Reader) has read when it gives up on the line.
const tooLongFrag = 3 * 4096

// Complete is what Feed reports for a complete head, which the caller then
// classifies (Scanner.Classify).
const Complete response.Outcome = 255

// What a read returned, besides a positive byte count, for Ended.
const (
	EndOfStream = 0
	TimedOut    = -1
	ReadFailed  = -2
)

// Reset makes h ready for a new head. It keeps SetStrictColons's setting.
//
//go:norace
//go:nocheckptr
func (h *Scanner) Reset() { *h = Scanner{lineEnd: -1, strict: h.strict} }

// SetStrictColons tells h the StrictColons of this process, which Feed's
// check of a request line as it ends needs for absolute-form targets (as
// Classify is told it). Without it Feed lets a host with several colons
// pass, and Classify rejects it once the head is complete.
//
//go:norace
//go:nocheckptr
func (h *Scanner) SetStrictColons(strict bool) { h.strict = strict }

// Free is where the next read into buf goes: at most 4096 bytes, as
// net/http's bufio.Reader reads. It is empty only when the buffer is full,
// which the limits prevent.
//
//go:norace
//go:nocheckptr
func (h *Scanner) Free(buf []byte) []byte {
	end := min(h.w+4096, len(buf))
	if h.w >= end {
		return nil
	}
	return buf[h.w:end]
}

// Feed takes the n bytes just read at buf[h.w:] (into Free). It reports
// the outcome once the head is complete (Complete) or over a limit.
//
//go:norace
//go:nocheckptr
func (h *Scanner) Feed(buf []byte, n int) (response.Outcome, bool) {
	r, end := h.w, h.w+n
	if end > len(buf) {
		return response.HeaderTooLarge, true
	}
	for ; r < end; r++ {
		c := buf[r]
		buf[h.w] = c
		h.w++
		if h.overflow {
			if c == '\n' || h.w >= tooLongFrag {
				return h.tooLong(buf), true
			}
			continue
		}
		if h.lineEnd < 0 && h.w > maxRequestLine {
			// The reference reads the method off the line after leading CRs;
			// only a line of CRs makes it wait for the rest of the
			// fragment its ReadHead holds.
			crs := 0
			for crs < h.w && buf[crs] == '\r' {
				crs++
			}
			if c == '\n' || h.w >= tooLongFrag || h.w-crs > maxMethod {
				return h.tooLong(buf), true
			}
			h.overflow = true
			continue
		}
		if h.lineEnd >= 0 && h.w-h.lineEnd > MaxHeaderBytes {
			return response.HeaderTooLarge, true
		}
		if c != '\n' {
			continue
		}
		ln := h.w - h.lineStart
		empty := ln == 1 || (ln == 2 && buf[h.lineStart] == '\r')
		switch {
		case empty && h.lineEnd < 0:
			h.w = h.lineStart
			continue
		case empty:
			h.extra = r+1 < end
			h.rs, h.re = r+1, end
			return Complete, true
		case h.lineEnd < 0:
			// As net/http, judge the request line at once: a malformed one
			// gets 400 now, not after a header section or a timeout.
			var rl requestLine
			if !parseRequestLine(buf[:h.w], h.w, h.strict, &rl) {
				return response.BadRequest, true
			}
			h.lineEnd = h.w
		}
		h.lineStart = h.w
	}
	return 0, false
}

//go:norace
//go:nocheckptr
func (h *Scanner) tooLong(buf []byte) response.Outcome {
	if h.w <= len(buf) && looksLikeRequestLine(buf[:h.w]) {
		return response.URITooLong
	}
	return response.BadRequest
}

// Ended is the outcome when reading stops with res (EndOfStream, TimedOut
// or ReadFailed) before Feed reported one.
//
//go:norace
//go:nocheckptr
func (h *Scanner) Ended(buf []byte, res int) response.Outcome {
	switch {
	case res < 0 && h.overflow:
		return h.tooLong(buf)
	case res == TimedOut:
		return response.RequestTimeout
	case res < 0:
		return response.ClientGone
	}
	return h.atEOF(buf)
}

// Classify classifies the complete head Feed reported (Complete) with the
// package's Classify.
//
//go:norace
//go:nocheckptr
func (h *Scanner) Classify(buf []byte, strictColons bool) Request {
	if h.w > len(buf) {
		return Request{Outcome: response.BadRequest}
	}
	return Classify(buf[:h.w], h.lineEnd, strictColons)
}

// Next drops the head just classified and then up to skip body bytes
// already in buf, moves the rest to buf's start, readies h for the next
// head and, when no body remains unread (left == 0), feeds the moved bytes
// as Feed does (a pipelined head may be complete already: done). left is
// how many body bytes the caller must still read from the socket and drop
// before calling Feed again (the buffer is empty then).
//
//go:norace
//go:nocheckptr
func (h *Scanner) Next(buf []byte, skip int64) (o response.Outcome, done bool, left int64) {
	rs, re := h.rs, h.re
	if re > len(buf) || rs > re || rs < 0 {
		rs, re = 0, 0
	}
	if skip < 0 {
		skip = 0
	}
	if n := int64(re - rs); skip >= n {
		rs, left = re, skip-n
	} else {
		rs += int(skip)
	}
	m := 0 // copy would call memmove, which a fork child cannot
	for ; rs < re; rs++ {
		buf[m] = buf[rs]
		m++
	}
	h.Reset()
	if left > 0 || m == 0 {
		return 0, false, left
	}
	o, done = h.Feed(buf, m)
	return o, done, 0
}

// Extra reports whether bytes after the head came with it (pipelined
// requests or a body): the responder lingers then.
//
//go:norace
//go:nocheckptr
func (h *Scanner) Extra() bool { return h.extra }

// atEOF is the outcome of an end of stream before a complete head.
//
//go:norace
//go:nocheckptr
func (h *Scanner) atEOF(buf []byte) response.Outcome {
	if h.overflow {
		return h.tooLong(buf)
	}
	for i := 0; i < h.w && i < len(buf); i++ {
		if buf[i] != '\r' && buf[i] != '\n' {
			return response.BadRequest
		}
	}
	return response.ClientGone
}

//go:norace
//go:nocheckptr
func looksLikeRequestLine(head []byte) bool {
	i := 0
	for i < len(head) && (head[i] == '\r' || head[i] == '\n') {
		i++
	}
	head = head[i:]
	sp := index(head, ' ')
	if sp <= 0 || sp > maxMethod {
		return false
	}
	return isToken(head[:sp])
}
