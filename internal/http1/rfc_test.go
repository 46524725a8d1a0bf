package http1

import (
	"bufio"
	"os"
	"testing"

	"github.com/hellod/hellod/internal/response"
)

// rfcCases are requests on which hellod follows RFC 9112 where net/http's
// server does not (netHTTP is what it answers), or the cases around them.
// The reference (reference_test.go) follows the RFC there too.
var rfcCases = []struct {
	name    string
	in      string
	want    response.Outcome
	netHTTP int // net/http's server's status, when it differs
}{
	{"host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", response.BadRequest, 0},
	{"host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", response.BadRequest, 200},
	{"host two ports", "GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", response.BadRequest, 200},
	{"host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", response.BadRequest, 0},
	{"host port not digits", "GET / HTTP/1.1\r\nHost: a:x\r\n\r\n", response.BadRequest, 200},
	{"host bad escape", "GET / HTTP/1.1\r\nHost: %zz\r\n\r\n", response.BadRequest, 200},
	{"host bracket inside", "GET / HTTP/1.1\r\nHost: a[b\r\n\r\n", response.BadRequest, 200},
	{"host zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25en0]\r\n\r\n", response.BadRequest, 200},
	{"host nine pieces", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n", response.BadRequest, 200},
	{"host ipv4 leading zero in ipv6", "GET / HTTP/1.1\r\nHost: [::1.2.3.04]\r\n\r\n", response.BadRequest, 200},
	{"host comma", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", response.OKGet, 0},
	{"host asterisk", "GET / HTTP/1.1\r\nHost: *\r\n\r\n", response.OKGet, 0},
	{"host empty", "GET / HTTP/1.1\r\nHost: \r\n\r\n", response.OKGet, 0},
	{"host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", response.OKGet, 0},
	{"host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", response.OKGet, 0},
	{"host escape", "GET / HTTP/1.1\r\nHost: %41\r\n\r\n", response.OKGet, 0},
	{"host ipv4 port", "GET / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n\r\n", response.OKGet, 0},
	{"host ipv6 port", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", response.OKGet, 0},
	{"host ipv6 ipv4", "GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]\r\n\r\n", response.OKGet, 0},
	{"host ipvfuture", "GET / HTTP/1.1\r\nHost: [v1.x:y]\r\n\r\n", response.OKGet, 0},
	{"get asterisk", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", response.BadRequest, 200},
	{"head asterisk", "HEAD * HTTP/1.0\r\n\r\n", response.BadRequest, 200},
	{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", response.MethodNotAllowed, 200},
	{"http/2 preface", "PRI * HTTP/2.0\r\n\r\n", response.VersionNotSupported, 0},
	{"te deflate chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate, chunked\r\n\r\n", response.NotImplemented, 0},
	{"te two fields", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip;q=1\r\ntransfer-encoding: chunked\r\n\r\n", response.NotImplemented, 0},
	{"te gzip", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", response.BadRequest, 501},
	{"te chunked gzip", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", response.BadRequest, 501},
	{"te chunked twice", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", response.BadRequest, 501},
	{"te chunked in two fields", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", response.BadRequest, 501},
	{"te chunked parameter", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", response.BadRequest, 501},
	{"te not a token", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: g@zip, chunked\r\n\r\n", response.BadRequest, 501},
	{"te empty", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", response.BadRequest, 501},
	{"te chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", response.OKGet, 0},
	{"te chunked empty elements", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked, \r\n\r\n", response.OKGet, 501},
	{"te http/1.0 ignored", "GET / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", response.OKGet, 0},
}

func TestRFCOutcomes(t *testing.T) {
	strict := StrictColons()
	for _, c := range rfcCases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := parse([]byte(c.in), 4096, strict)
			if got.Outcome != c.want {
				t.Errorf("want %v (net/http's server: %d), got %v", c.want, c.netHTTP, got.Outcome)
			}
			// The rest of the verdict (keep-alive, body) as the reference.
			for _, chunk := range []int{1, 4096} {
				if err := agree([]byte(c.in), chunk, strict); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// stalledReader returns its bytes, then times out as a socket whose
// client sends no more.
type stalledReader struct{ b []byte }

func (r *stalledReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestRequestLineJudgedAtOnce: a malformed request line gets 400 as soon
// as its line ends, as net/http answers it, not 408 once the header
// timeout expires; a good one waits for its header section.
func TestRequestLineJudgedAtOnce(t *testing.T) {
	for _, c := range []struct {
		line string
		bad  bool
	}{
		{"GET /\r\n", true},
		{"GET / HTTP/1.1 x\r\n", true},
		{"G@T / HTTP/1.1\r\n", true},
		{"GET /a b HTTP/1.1\r\n", true},
		{"GET / HTTP/x.y\r\n", true},
		{"GET /%zz HTTP/1.1\r\n", true},
		{"GET * HTTP/1.1\r\n", true},
		{"\r\nGET\r\n", true},
		{"GET / HTTP/1.1\r\n", false},
		{"OPTIONS * HTTP/1.1\r\n", false},
		{"GET / HTTP/2.0\r\n", false},
		{"\r\n", false},
	} {
		for _, chunk := range []int{1, 4096} {
			s := newScanner(t)
			o, done := response.Outcome(0), false
			for in := c.line; len(in) > 0 && !done; in = in[min(chunk, len(in)):] {
				o, done = s.feed(in[:min(chunk, len(in))])
			}
			if c.bad && (!done || o != response.BadRequest) || !c.bad && done {
				t.Errorf("%q in reads of %d: want 400 at once %v, got %v, %v", c.line, chunk, c.bad, o, done)
			}
		}
		want := response.ClientGone // the reference times out
		if c.bad {
			want = response.BadRequest
		}
		if ref := refDecide(bufio.NewReader(&stalledReader{[]byte(c.line)})); ref.Outcome != want {
			t.Errorf("%q: want %v from the reference, got %v", c.line, want, ref.Outcome)
		}
	}
}
