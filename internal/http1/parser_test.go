package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/response"
)

// parse runs the parser over data as if it arrived in reads of at most
// chunk bytes and then the stream ended, as the responder drives it. It
// returns what it found and, for a complete head, the head as Feed
// collected it.
func parse(data []byte, chunk int, strict bool) (req Request, head []byte) {
	buf := make([]byte, BufSize)
	var h Scanner
	h.SetStrictColons(strict)
	h.Reset()
	for len(data) > 0 {
		free := h.Free(buf)
		n := copy(free[:min(chunk, len(free))], data)
		data = data[n:]
		if o, done := h.Feed(buf, n); done {
			if o == Complete {
				head = bytes.Clone(buf[:h.w]) // Classify may rewrite it
				return h.Classify(buf, strict), head
			}
			return Request{Outcome: o}, nil
		}
	}
	return Request{Outcome: h.Ended(buf, EndOfStream)}, nil
}

// reference is refDecide over the same bytes, read in pieces of chunk.
func reference(data []byte, chunk int) Request {
	return refDecide(bufio.NewReaderSize(&chunkReader{data, chunk}, 4096))
}

// chunkReader returns at most n bytes per Read, as a socket may.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[m:]
	return m, nil
}

// decideCases are request heads and the outcome hellod answers them with.
var decideCases = []struct {
	name string
	in   string
	want response.Outcome
}{
	{"get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", response.OKGet},
	{"get any target", "GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8000\r\nUser-Agent: t\r\n\r\n", response.OKGet},
	{"head", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", response.OKHead},
	{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n", response.OKGet},
	{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", response.OKGet},
	{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", response.OKGet},
	{"absolute form", "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", response.OKGet},
	{"asterisk options", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", response.MethodNotAllowed},
	{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", response.MethodNotAllowed},
	{"delete", "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n", response.MethodNotAllowed},
	{"lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", response.MethodNotAllowed},
	{"http/1.1 without host", "GET / HTTP/1.1\r\n\r\n", response.BadRequest},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", response.BadRequest},
	{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", response.BadRequest},
	{"garbage", "garbage\r\n\r\n", response.BadRequest},
	{"no version", "GET /\r\n\r\n", response.BadRequest},
	{"bad version", "GET / HTTP/x.y\r\nHost: x\r\n\r\n", response.BadRequest},
	{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", response.BadRequest},
	{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", response.BadRequest},
	{"control char in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", response.BadRequest},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", response.BadRequest},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", response.BadRequest},
	{"http/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", response.VersionNotSupported},
	{"http/2 preface", "PRI * HTTP/2.0\r\n\r\n", response.VersionNotSupported},
	{"http/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", response.VersionNotSupported},
	{"target at limit", "GET /" + strings.Repeat("a", MaxTarget-1) + " HTTP/1.1\r\nHost: x\r\n\r\n", response.OKGet},
	{"target over limit", "GET /" + strings.Repeat("a", MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n", response.URITooLong},
	{"target far over limit", "GET /" + strings.Repeat("a", 3*MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n", response.URITooLong},
	{"overlong line without method", strings.Repeat("\x01", 3*MaxTarget) + "\r\n\r\n", response.BadRequest},
	{"headers at limit", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes-len("Host: x\r\nX: \r\n\r\n")) + "\r\n\r\n", response.OKGet},
	{"headers over limit", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n", response.HeaderTooLarge},
	{"many headers over limit", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", MaxHeaderBytes/8+1) + "\r\n", response.HeaderTooLarge},
	{"eof before anything", "", response.ClientGone},
	{"eof after empty lines", "\r\n\r\n", response.ClientGone},
	{"eof mid request line", "GET / HT", response.BadRequest},
	{"eof mid headers", "GET / HTTP/1.1\r\nHost: x\r\n", response.BadRequest},
}

func TestParserOutcomes(t *testing.T) {
	strict := StrictColons()
	for _, c := range decideCases {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := parse([]byte(c.in), 4096, strict); got.Outcome != c.want {
				t.Errorf("want %v, got %v", c.want, got)
			}
		})
	}
}

// TestScannerStopsAtEndOfHead: the head is what precedes the body, and the
// scanner notes that more came with it (the responder lingers then).
func TestScannerStopsAtEndOfHead(t *testing.T) {
	in := "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"
	buf := make([]byte, BufSize)
	var h Scanner
	h.Reset()
	n := copy(h.Free(buf), in)
	if o, done := h.Feed(buf, n); !done || o != Complete {
		t.Fatalf("want a complete head, got %v, %v", o, done)
	}
	if want := in[2 : len(in)-4]; string(buf[:h.w]) != want || !h.Extra() {
		t.Errorf("want head %q and extra bytes, got %q, %v", want, buf[:h.w], h.Extra())
	}
}

// parserCases are requests (each then followed by end of stream) on which
// the parser must decide as the reference does.
var parserCases = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	"GET / HTTP/1.1\nHost: a\n\n",                     // bare LF
	"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",     // leading empty lines
	"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", // obs-fold
	"GET / HTTP/1.1\r\nHost: a\r\n  \r\n\r\n",         // folded blank
	"GET / HTTP/1.1\r\nHost: a\r\n\tX: b\r\n\r\n",     // fold after Host
	"GET / HTTP/1.1\r\n X: b\r\nHost: a\r\n\r\n",      // leading space on first header
	"GET / HTTP/1.1\r\nHo st: a\r\n\r\n",              // space in name
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",              // space before colon: not Host
	"GET / HTTP/1.0\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\r\nH(st: a\r\nHost: a\r\n\r\n", // bad name
	"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",     // empty name
	"GET / HTTP/1.1\r\nNoColon\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",                       // missing Host
	"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", // duplicate Host
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",          // bad Host
	"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:\r\n\r\n", // empty Host
	"GET / HTTP/1.0\r\n\r\n",          // HTTP/1.0 without Host
	"GET / HTTP/1.2\r\n\r\n",
	"GET http://example.com/x?y HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://[::1]:80/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://[fe80::1%25en0]/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://[1.2.3.4]/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://[::ffff:1.2.3.4]/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://a:1:2/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://a%2f/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET mailto:x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET :x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT  HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET  HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n",
	"GET / http/1.1\r\nHost: a\r\n\r\n",
	"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", // HTTP/2 preface
	"GET / HTTP/0.9\r\n\r\n",
	"GET / HTTP/0.0\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: content-length\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n", // partial + EOF
	"GET / HTT",
	"",
	"\r\n\r\n",
	"\r",
	"GET /" + strings.Repeat("a", MaxTarget) + " HTTP/1.1\r\nHost: a\r\n\r\n",             // 414 in Classify
	"GET /" + strings.Repeat("a", 2*MaxTarget) + " HTTP/1.1\r\nHost: a\r\n\r\n",           // 414 in ReadHead
	strings.Repeat("a", 2*MaxTarget) + "\r\n\r\n",                                         // 400: no method
	"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", MaxHeaderBytes) + "\r\n\r\n", // 431
	strings.Repeat("\r", maxRequestLine) + "GET /" + strings.Repeat("a", 100) + "\r\n",
}

// TestParserMatchesReference: outcome, declared body and head as the
// reference (net/http) decides them, whatever the read sizes.
func TestParserMatchesReference(t *testing.T) {
	strict := StrictColons()
	for i, c := range parserCases {
		for _, chunk := range []int{1, 7, 4096} {
			if err := agree([]byte(c), chunk, strict); err != nil {
				t.Errorf("#%d %q: %v", i, trunc(c), err)
			}
		}
	}
}

// agree compares the parser with the reference on data read in pieces of
// chunk bytes.
func agree(data []byte, chunk int, strict bool) error {
	want := reference(data, chunk)
	got, head := parse(data, chunk, strict)
	// The rest matters only to a 200 (every other response closes); net/http
	// says "a body" for HTTP/2.0.
	if got.Outcome != want.Outcome || (want.Outcome == response.OKGet || want.Outcome == response.OKHead) && got != want {
		return fmt.Errorf("reads of %d: want %+v as net/http, got %+v", chunk, want, got)
	}
	if head != nil {
		refHead, err := refReadHead(bufio.NewReaderSize(&chunkReader{data, chunk}, 4096))
		if err != nil || !bytes.Equal(head, refHead) {
			return fmt.Errorf("reads of %d: want head %q, %v as net/http, got %q", chunk, refHead, err, head)
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}
