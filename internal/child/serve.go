package child

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/response"
)

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
	// lingerTime and lingerBytes bound how long and how much a child keeps
	// reading after its response so that unread request bytes do not make
	// the kernel reset the connection before the client has read it.
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// Settings are what a child needs to serve: the body of a 200 and its deadlines.
type Settings struct {
	Message       string
	HeaderTimeout time.Duration // request header must be complete by then
	ChildTimeout  time.Duration // nothing is read or written after this
}

var (
	errTimeout        = errors.New("deadline passed")
	errLineTooLong    = errors.New("request line too long")
	errHeaderTooLarge = errors.New("header section too large")
)

// fdConn reads and writes a blocking socket with per-call socket timeouts
// derived from absolute deadlines: no poller, no extra descriptors.
type fdConn struct {
	fd           int
	readDeadline time.Time // header deadline, then linger deadline
	deadline     time.Time // the child's whole life
}

func (c *fdConn) remaining(d time.Time) time.Duration {
	if !d.IsZero() && d.Before(c.deadline) {
		return time.Until(d)
	}
	return time.Until(c.deadline)
}

func (c *fdConn) Read(p []byte) (int, error) {
	rem := c.remaining(c.readDeadline)
	if rem <= 0 {
		return 0, errTimeout
	}
	if err := linux.SetTimeouts(c.fd, rem, 0); err != nil {
		return 0, err
	}
	n, err := linux.Read(c.fd, p)
	switch {
	case linux.IsTimeout(err):
		return 0, errTimeout
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *fdConn) Write(p []byte) (int, error) {
	rem := c.remaining(time.Time{})
	if rem <= 0 {
		return 0, errTimeout
	}
	if err := linux.SetTimeouts(c.fd, 0, rem); err != nil {
		return 0, err
	}
	n, err := linux.Write(c.fd, p)
	if linux.IsTimeout(err) {
		return n, errTimeout
	}
	return n, err
}

// Serve answers one HTTP request on the connected, blocking stream socket fd
// and reports what happened. It does not close fd. now is the clock (for
// the Date header and deadlines' start).
func Serve(fd int, s Settings, now time.Time) response.Outcome {
	c := &fdConn{fd: fd, deadline: now.Add(s.ChildTimeout), readDeadline: now.Add(s.HeaderTimeout)}
	br := bufio.NewReaderSize(c, 4096)
	o, body := decide(br)
	if o == response.ClientGone {
		return o
	}
	out := response.Append(make([]byte, 0, 256+len(s.Message)), o, s.Message, time.Now())
	if _, err := c.Write(out); err != nil {
		return response.WriteFailed
	}
	// Unread bytes at close make the kernel reset the connection, which
	// can destroy the response before the client reads it. Linger when the
	// client may still be sending: a declared body, bytes already waiting,
	// or a request we rejected before knowing its framing.
	if body || br.Buffered() > 0 || (o != response.OKGet && o != response.OKHead) {
		linger(c)
	} else if n, err := linux.Pending(fd); err != nil || n > 0 {
		linger(c)
	}
	return o
}

// linger half-closes the connection and reads what the client still sends,
// bounded in time and bytes, so that closing with unread data (a request
// body, pipelined requests) does not reset the connection under the client
// before it has read the response (RFC 9112 section 9.6).
func linger(c *fdConn) {
	if err := linux.ShutdownWrite(c.fd); err != nil {
		return
	}
	c.readDeadline = time.Now().Add(lingerTime)
	var buf [4096]byte
	for n := 0; n < lingerBytes; {
		m, err := c.Read(buf[:])
		if err != nil {
			return
		}
		n += m
	}
}

// Decide reads one request head from r and decides the response. It reads
// nothing past the empty line that ends the header section.
func Decide(r *bufio.Reader) response.Outcome {
	o, _ := decide(r)
	return o
}

// decide is Decide, also reporting whether the request declared a body.
func decide(r *bufio.Reader) (response.Outcome, bool) {
	head, err := ReadHead(r)
	switch {
	case err == nil:
	case errors.Is(err, errTimeout):
		return response.RequestTimeout, false
	case errors.Is(err, errLineTooLong):
		if looksLikeRequestLine(head) {
			return response.URITooLong, false
		}
		return response.BadRequest, false
	case errors.Is(err, errHeaderTooLarge):
		return response.HeaderTooLarge, false
	case errors.Is(err, io.EOF) && len(bytes.TrimLeft(head, "\r\n")) > 0:
		// Half-closed after part of a request: tell it why nothing follows.
		return response.BadRequest, false
	default: // EOF before anything, ECONNRESET, ...
		return response.ClientGone, false
	}
	return classify(head)
}

// Classify parses a complete request head with the standard library and
// returns the outcome hellod answers it with.
func Classify(head []byte) response.Outcome {
	o, _ := classify(head)
	return o
}

// classify is Classify, also reporting whether a body was declared.
func classify(head []byte) (response.Outcome, bool) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return response.BadRequest, false
	}
	return classifyRequest(req, head), req.ContentLength != 0 || len(req.TransferEncoding) > 0
}

func classifyRequest(req *http.Request, head []byte) response.Outcome {
	if req.ProtoMajor != 1 {
		return response.VersionNotSupported
	}
	if len(req.RequestURI) > MaxTarget {
		return response.URITooLong
	}
	// What net/http's server checks beyond ReadRequest: field names are
	// tokens, values hold no control characters (RFC 9110 section 5), and
	// obsolete line folding is rejected (RFC 9112 section 5.2).
	for name, vals := range req.Header {
		if !isToken(name) {
			return response.BadRequest
		}
		for _, v := range vals {
			if !validFieldValue(v) {
				return response.BadRequest
			}
		}
	}
	if hasObsFold(head) {
		return response.BadRequest
	}
	// RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request
	// without a Host header, or with more than one, or an invalid one.
	// (ReadRequest drops the Host header from req.Header, so count them in
	// the header section itself.)
	hosts := hostHeaders(head)
	if len(hosts) > 1 || (req.ProtoAtLeast(1, 1) && len(hosts) == 0) {
		return response.BadRequest
	}
	if len(hosts) == 1 && !validHost(hosts[0]) {
		return response.BadRequest
	}
	switch req.Method {
	case http.MethodGet:
		return response.OKGet
	case http.MethodHead:
		return response.OKHead
	}
	return response.MethodNotAllowed
}

// hostHeaders returns the values of the Host header fields in a request
// head that http.ReadRequest accepted.
func hostHeaders(head []byte) []string {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	if _, err := tp.ReadLine(); err != nil {
		return nil
	}
	h, _ := tp.ReadMIMEHeader()
	return h["Host"]
}

// validHost rejects Host values with bytes no authority can contain
// (RFC 3986 section 3.2): controls, spaces and delimiters outside it.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		switch b := h[i]; {
		case b <= ' ' || b >= 0x7f:
			return false
		case b == '/' || b == '?' || b == '#' || b == '\\' || b == '"' || b == '<' || b == '>' ||
			b == '^' || b == '`' || b == '{' || b == '|' || b == '}':
			return false
		}
	}
	return true
}

// ReadHead reads a request head (request line and header section, through
// the empty line) from r, enforcing the size limits. Empty lines before the
// request line are skipped (RFC 9112 section 2.2). On error it returns what
// it read so far.
func ReadHead(r *bufio.Reader) ([]byte, error) {
	var head []byte
	lineStart, lineEnd := 0, -1 // lineEnd: end of the request line once read
	for {
		frag, err := r.ReadSlice('\n')
		head = append(head, frag...)
		if lineEnd < 0 && len(head) > maxRequestLine {
			return head, errLineTooLong
		}
		if lineEnd >= 0 && len(head)-lineEnd > MaxHeaderBytes {
			return head, errHeaderTooLarge
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return head, err
		}
		line := head[lineStart:]
		empty := len(line) == 1 || (len(line) == 2 && line[0] == '\r')
		switch {
		case empty && lineEnd < 0: // leading empty line: skip it
			head = head[:lineStart]
			continue
		case empty:
			return head, nil
		case lineEnd < 0:
			lineEnd = len(head)
		}
		lineStart = len(head)
	}
}

// looksLikeRequestLine reports whether an overlong line starts with a
// method token and a space, so its length is the target's fault (414).
func looksLikeRequestLine(head []byte) bool {
	head = bytes.TrimLeft(head, "\r\n")
	sp := bytes.IndexByte(head, ' ')
	if sp <= 0 || sp > maxMethod {
		return false
	}
	for _, b := range head[:sp] {
		if !isTokenChar(b) {
			return false
		}
	}
	return true
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// validFieldValue rejects control characters other than HTAB.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// hasObsFold reports whether a header line of head starts with a space or
// tab: a continuation of the previous field (obs-fold).
func hasObsFold(head []byte) bool {
	for i := bytes.IndexByte(head, '\n'); i >= 0 && i+1 < len(head); {
		if head[i+1] == ' ' || head[i+1] == '\t' {
			return true
		}
		j := bytes.IndexByte(head[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// isTokenChar reports whether b may appear in an RFC 9110 token.
func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), b) >= 0
}
