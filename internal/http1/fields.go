package http1

import "github.com/hellod/hellod/internal/response"

// nextElement splits the first element off a comma-separated list (RFC
// 9110 section 5.6.1) and trims its optional white space (SP and HT).
//
//go:norace
//go:nocheckptr
func nextElement(v []byte) (e, rest []byte) {
	if i := index(v, ','); i < 0 {
		e = v
	} else {
		e, rest = v[:i], v[i+1:]
	}
	for len(e) > 0 && (e[0] == ' ' || e[0] == '\t') {
		e = e[1:]
	}
	for len(e) > 0 && (e[len(e)-1] == ' ' || e[len(e)-1] == '\t') {
		e = e[:len(e)-1]
	}
	return e, rest
}

// connectionOptions notes the "close" and "keep-alive" options of a
// Connection value (RFC 9110 section 7.6.1), as
// httpguts.HeaderValuesContainsToken finds them.
//
//go:norace
//go:nocheckptr
func connectionOptions(v []byte, hs *headerFields) {
	for len(v) > 0 {
		var e []byte
		e, v = nextElement(v)
		switch {
		case equalFold(e, "close"):
			hs.connClose = true
		case equalFold(e, "keep-alive"):
			hs.connKeepAlive = true
		}
	}
}

// badTrailer reports whether a Trailer value names a field http's
// fixTrailer refuses (Transfer-Encoding, Trailer, Content-Length).
//
//go:norace
//go:nocheckptr
func badTrailer(v []byte) bool {
	for len(v) > 0 {
		var e []byte
		e, v = nextElement(v)
		if !isToken(e) {
			continue
		}
		if equalFold(e, "transfer-encoding") || equalFold(e, "trailer") || equalFold(e, "content-length") {
			return true
		}
	}
	return false
}

// codings sums up the transfer codings of a request's Transfer-Encoding
// fields, in order (RFC 9112 section 6.1):
//
//	Transfer-Encoding = #transfer-coding
//	transfer-coding   = token *( OWS ";" OWS transfer-parameter )
//
// (Plain functions, not methods: the fork-child check of cmd/hellod
// knows http1's functions and Scanner's methods.)
type codings struct {
	chunked   int  // how many are "chunked"
	lastChunk bool // the last one is "chunked"
	other     bool // one is a coding hellod does not know
	bad       bool // one is not a transfer-coding
}

// addCodings notes in c the codings of one Transfer-Encoding value. Empty elements
// are ignored (RFC 9110 section 5.6.1).
//
//go:norace
//go:nocheckptr
func addCodings(c *codings, v []byte) {
	for len(v) > 0 {
		var e []byte
		e, v = nextElement(v)
		if len(e) == 0 {
			continue
		}
		name := e
		if i := index(e, ';'); i >= 0 {
			name, _ = nextElement(e[:i])
		}
		if !isToken(name) {
			c.bad = true
		}
		c.lastChunk = len(name) == len(e) && equalFold(e, "chunked")
		if c.lastChunk {
			c.chunked++
		} else {
			c.other = true
		}
	}
}

// codingsOutcome is 0 when the codings are chunked alone, the one hellod
// understands; else the answer. net/http answers 501 to any value but a
// single "chunked" (its unsupportedTEError); RFC 9112 section 6.3 says a
// server MUST answer 400 when chunked is not the final coding (Transfer-
// Encoding: gzip), so the RFC wins there. chunked applied twice is
// malformed too (section 6.1: a sender MUST NOT). A coding before a final
// chunked (deflate, chunked) is one hellod does not implement: 501, which
// section 6.1 says a server SHOULD answer, as net/http does.
//
//go:norace
//go:nocheckptr
func codingsOutcome(c *codings) response.Outcome {
	switch {
	case c.bad || !c.lastChunk || c.chunked > 1:
		return response.BadRequest
	case c.other:
		return response.NotImplemented
	}
	return 0
}
