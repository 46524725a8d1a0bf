package http1

import (
	"testing"

	"github.com/hellod/hellod/internal/response"
)

// requestCases are complete heads and what Classify finds in them.
var requestCases = []struct {
	name string
	in   string
	want Request
}{
	{"http/1.1 persists", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true}},
	{"http/1.1 close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", Request{Outcome: response.OKGet}},
	{"close among options", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", Request{Outcome: response.OKGet}},
	{"close in a second field", "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nconnection:  \tclose \r\n\r\n", Request{Outcome: response.OKHead}},
	{"not quite close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: closed, x-close\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true}},
	{"http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", Request{Outcome: response.OKGet, HTTP10: true}},
	{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true, HTTP10: true}},
	{"http/1.0 keep-alive listed", "GET / HTTP/1.0\r\nConnection: te ,keep-alive\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true, HTTP10: true}},
	{"http/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", Request{Outcome: response.OKGet, HTTP10: true}},
	{"http/1.0 not keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", Request{Outcome: response.OKGet, HTTP10: true}},
	{"http/1.2 persists", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true}},
	{"content-length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true, Body: 12}},
	{"content-length zero", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 000\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true}},
	{"content-length repeated", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true, Body: 7}},
	{"content-length largest", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775807\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true, Body: 1<<63 - 1}},
	{"chunked", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", Request{Outcome: response.OKGet, KeepAlive: true, Body: -1}},
	{"post with body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", Request{Outcome: response.MethodNotAllowed, KeepAlive: true, Body: 3}},
	{"malformed", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", Request{Outcome: response.BadRequest}},
}

func TestClassifyRequest(t *testing.T) {
	strict := StrictColons()
	for _, c := range requestCases {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := parse([]byte(c.in), 4096, strict); got != c.want {
				t.Errorf("want %+v, got %+v", c.want, got)
			}
			if ref := reference([]byte(c.in), 4096); ref != c.want {
				t.Errorf("want %+v as net/http decides, got %+v from it", c.want, ref)
			}
		})
	}
}

// TestClassifyHTTP10TransferEncoding: RFC 9112 section 6.1 makes an HTTP/1.0
// request with Transfer-Encoding close after the response (net/http ignores
// the field in HTTP/1.0 and would keep the connection: the RFC wins).
func TestClassifyHTTP10TransferEncoding(t *testing.T) {
	in := "GET / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
	want := Request{Outcome: response.OKGet, HTTP10: true, Body: -1}
	if got, _ := parse([]byte(in), 4096, StrictColons()); got != want {
		t.Errorf("want %+v, got %+v", want, got)
	}
}

// scanner is a Scanner with its buffer, for the Next tests.
type scanner struct {
	t   *testing.T
	h   Scanner
	buf []byte
}

func newScanner(t *testing.T) *scanner {
	s := &scanner{t: t, buf: make([]byte, BufSize)}
	s.h.SetStrictColons(StrictColons())
	s.h.Reset()
	return s
}

// feed reads in into the buffer at once and returns what Feed says.
func (s *scanner) feed(in string) (response.Outcome, bool) {
	n := copy(s.h.Free(s.buf), in)
	if n != len(in) {
		s.t.Fatalf("want room for %d bytes, got %d", len(in), n)
	}
	return s.h.Feed(s.buf, n)
}

// complete checks that the scanner holds the complete head want and
// returns its classification.
func (s *scanner) complete(o response.Outcome, done bool, want string) Request {
	s.t.Helper()
	if !done || o != Complete {
		s.t.Fatalf("want a complete head %q, got %v, %v", want, o, done)
	}
	if got := string(s.buf[:s.h.w]); got != want {
		s.t.Fatalf("want head %q, got %q", want, got)
	}
	return s.h.Classify(s.buf, StrictColons())
}

func TestNextPipelinedHeads(t *testing.T) {
	heads := []string{
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	}
	wants := []Request{
		{Outcome: response.OKGet, KeepAlive: true},
		{Outcome: response.OKHead, KeepAlive: true},
		{Outcome: response.OKGet, KeepAlive: true, HTTP10: true},
	}
	s := newScanner(t)
	o, done := s.feed(heads[0] + heads[1] + heads[2])
	for i, head := range heads {
		if got := s.complete(o, done, head); got != wants[i] {
			t.Errorf("#%d: want %+v, got %+v", i, wants[i], got)
		}
		if extra := i < len(heads)-1; s.h.Extra() != extra {
			t.Errorf("#%d: want Extra %v, got %v", i, extra, s.h.Extra())
		}
		var left int64
		o, done, left = s.h.Next(s.buf, 0)
		if left != 0 {
			t.Fatalf("#%d: want no body left, got %d", i, left)
		}
	}
	if done || o != 0 {
		t.Errorf("want nothing more, got %v, %v", o, done)
	}
	if s.h.w != 0 {
		t.Errorf("want an empty buffer, got %d bytes", s.h.w)
	}
}

// TestNextSkipsBody: a Content-Length body partly buffered leaves the rest
// to the caller; one wholly buffered is dropped and the next head follows.
func TestNextSkipsBody(t *testing.T) {
	s := newScanner(t)
	head := "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
	o, done := s.feed(head + "0123")
	req := s.complete(o, done, head)
	if want := (Request{Outcome: response.OKGet, KeepAlive: true, Body: 10}); req != want {
		t.Fatalf("want %+v, got %+v", want, req)
	}
	o, done, left := s.h.Next(s.buf, req.Body)
	if o != 0 || done || left != 6 {
		t.Fatalf("want 6 body bytes left to read, got %v, %v, %d", o, done, left)
	}
	// The caller reads and drops the 6 bytes, then the next head comes.
	next := "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
	o, done = s.feed(next + "abc" + head)
	req = s.complete(o, done, next)
	if req.Outcome != response.OKHead || req.Body != 3 {
		t.Fatalf("want a HEAD with a body of 3, got %+v", req)
	}
	o, done, left = s.h.Next(s.buf, req.Body)
	if left != 0 {
		t.Fatalf("want no body left, got %d", left)
	}
	if req = s.complete(o, done, head); req.Body != 10 {
		t.Errorf("want a body of 10, got %+v", req)
	}
}

// TestNextLeadingEmptyLine: an empty line between pipelined requests is
// dropped (RFC 9112 section 2.2), and a head cut short waits for its rest.
func TestNextLeadingEmptyLine(t *testing.T) {
	s := newScanner(t)
	first := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	second := "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	o, done := s.feed(first + "\r\n\n" + second[:20])
	s.complete(o, done, first)
	if o, done, left := s.h.Next(s.buf, 0); o != 0 || done || left != 0 {
		t.Fatalf("want a partial head, got %v, %v, %d", o, done, left)
	}
	o, done = s.feed(second[20:])
	req := s.complete(o, done, second)
	if want := (Request{Outcome: response.OKGet}); req != want {
		t.Errorf("want %+v, got %+v", want, req)
	}
}
