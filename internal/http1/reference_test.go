package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/hellod/hellod/internal/response"
)

// The reference: what the exec child decided before http1 existed, around
// net/http.ReadRequest. The parser must decide exactly so (parser_test.go,
// FuzzParser).

var (
	errLineTooLong    = errors.New("request line too long")
	errHeaderTooLarge = errors.New("header section too large")
	errBadLine        = errors.New("malformed request line")
)

// refRequest is the reference's Request.
type refRequest = Request

// refDecide reads one request head from r and decides the response. It
// reads nothing past the empty line that ends the header section.
func refDecide(r *bufio.Reader) refRequest {
	req, _ := refDecideHead(r)
	return req
}

// refDecideHead is refDecide, also reporting whether it read a complete
// head.
func refDecideHead(r *bufio.Reader) (refRequest, bool) {
	head, err := refReadHead(r)
	switch {
	case err == nil:
	case errors.Is(err, errLineTooLong):
		if refLooksLikeRequestLine(head) {
			return refRequest{Outcome: response.URITooLong}, false
		}
		return refRequest{Outcome: response.BadRequest}, false
	case errors.Is(err, errHeaderTooLarge):
		return refRequest{Outcome: response.HeaderTooLarge}, false
	case errors.Is(err, errBadLine):
		return refRequest{Outcome: response.BadRequest}, false
	case errors.Is(err, io.EOF) && len(bytes.TrimLeft(head, "\r\n")) > 0:
		// Half-closed after part of a request: tell it why nothing follows.
		return refRequest{Outcome: response.BadRequest}, false
	default: // EOF before anything, ECONNRESET, ...
		return refRequest{Outcome: response.ClientGone}, false
	}
	return refClassify(head), true
}

// refClassify parses a complete request head with the standard library and
// returns what hellod answers it with.
func refClassify(head []byte) refRequest {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil && strings.Contains(err.Error(), "transfer encoding") {
		// net/http's server answers 501 to any Transfer-Encoding but a
		// single "chunked" field; the RFC decides instead (refCodings).
		if o := refCodings(refHeader(head)["Transfer-Encoding"]); o != 0 {
			return refRequest{Outcome: o}
		}
		req, err = http.ReadRequest(bufio.NewReader(bytes.NewReader(refOneChunked(head))))
	}
	if err != nil {
		return refRequest{Outcome: response.BadRequest}
	}
	r := refRequest{
		Outcome:   refClassifyRequest(req, head),
		KeepAlive: !req.Close,
		HTTP10:    req.ProtoMajor == 1 && req.ProtoMinor == 0,
		Body:      req.ContentLength,
	}
	if len(refHeader(head)["Transfer-Encoding"]) > 0 && !req.ProtoAtLeast(1, 1) {
		// RFC 9112 section 6.1: faulty framing, close (net/http ignores the
		// field in HTTP/1.0 and keeps the connection: the RFC wins).
		r.KeepAlive, r.Body = false, -1
	}
	return r
}

func refClassifyRequest(req *http.Request, head []byte) response.Outcome {
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
		if !refIsToken(name) {
			return response.BadRequest
		}
		for _, v := range vals {
			if !refValidFieldValue(v) {
				return response.BadRequest
			}
		}
	}
	if refHasObsFold(head) {
		return response.BadRequest
	}
	// RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request
	// without a Host header, or with more than one, or an invalid one.
	// (ReadRequest drops the Host header from req.Header, so count them in
	// the header section itself.)
	hosts := refHeader(head)["Host"]
	if len(hosts) > 1 || (req.ProtoAtLeast(1, 1) && len(hosts) == 0) {
		return response.BadRequest
	}
	// The Host grammar is the RFC's, stricter than net/http's server.
	if len(hosts) == 1 && !refHostRE.MatchString(hosts[0]) {
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

// refHeader returns the header fields of a request head that
// http.ReadRequest accepted, Host included.
func refHeader(head []byte) textproto.MIMEHeader {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	if _, err := tp.ReadLine(); err != nil {
		return nil
	}
	h, _ := tp.ReadMIMEHeader()
	return h
}

// refReadHead reads a request head (request line and header section, through
// the empty line) from r, enforcing the size limits. Empty lines before the
// request line are skipped (RFC 9112 section 2.2). On error it returns what
// it read so far.
func refReadHead(r *bufio.Reader) ([]byte, error) {
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
			if !refRequestLineOK(head) {
				return head, errBadLine
			}
			lineEnd = len(head)
		}
		lineStart = len(head)
	}
}

// refLooksLikeRequestLine reports whether an overlong line starts with a
// method token and a space, so its length is the target's fault (414).
func refLooksLikeRequestLine(head []byte) bool {
	head = bytes.TrimLeft(head, "\r\n")
	sp := bytes.IndexByte(head, ' ')
	if sp <= 0 || sp > maxMethod {
		return false
	}
	for _, b := range head[:sp] {
		if !refIsTokenChar(b) {
			return false
		}
	}
	return true
}

// refIsToken reports whether s is a non-empty RFC 9110 token.
func refIsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !refIsTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// refValidFieldValue rejects control characters other than HTAB.
func refValidFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// refHasObsFold reports whether a header line of head starts with a space or
// tab: a continuation of the previous field (obs-fold).
func refHasObsFold(head []byte) bool {
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

// refIsTokenChar reports whether b may appear in an RFC 9110 token.
func refIsTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), b) >= 0
}

// refRequestLineOK judges a request line (through its LF) as net/http's
// ReadRequest does as soon as it has read it, plus RFC 9112 section
// 3.2.4's rule that only OPTIONS has an asterisk-form target ("*"), which
// net/http leaves to the handler (its ServeMux answers 400).
func refRequestLineOK(line []byte) bool {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(bytes.Clone(line), "\r\n"...))))
	if err != nil {
		return false
	}
	return req.ProtoMajor != 1 || req.RequestURI != "*" || req.Method == http.MethodOptions
}

// refCodings is RFC 9112's verdict on the Transfer-Encoding values of an
// HTTP/1.1 request: 0 for chunked alone, 400 when chunked is not the final
// coding or is applied twice or a coding is malformed (section 6.3), 501
// for codings the server does not know before a final chunked (section
// 6.1).
func refCodings(values []string) response.Outcome {
	var codings []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if e = strings.Trim(e, " \t"); e != "" {
				codings = append(codings, e)
			}
		}
	}
	chunked := 0
	for _, c := range codings {
		name, _, _ := strings.Cut(c, ";")
		if !refIsToken(strings.Trim(name, " \t")) {
			return response.BadRequest
		}
		if strings.EqualFold(c, "chunked") {
			chunked++
		}
	}
	switch {
	case len(codings) == 0 || !strings.EqualFold(codings[len(codings)-1], "chunked") || chunked > 1:
		return response.BadRequest
	case len(codings) > 1:
		return response.NotImplemented
	}
	return 0
}

// refOneChunked rewrites head's Transfer-Encoding fields (with their
// continuation lines) as one "Transfer-Encoding: chunked", what net/http
// understands.
func refOneChunked(head []byte) []byte {
	lines := bytes.SplitAfter(head, []byte("\n"))
	out := append([]byte(nil), lines[0]...)
	out = append(out, "Transfer-Encoding: chunked\r\n"...)
	dropping := false
	for _, l := range lines[1:] {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') && dropping {
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		if dropping = bytes.EqualFold(name, []byte("Transfer-Encoding")); !dropping {
			out = append(out, l...)
		}
	}
	return out
}

// refHostRE is the Host field's grammar (RFC 9112 section 3.2, RFC 3986
// section 3.2.2 and appendix A) as a regular expression.
var refHostRE = func() *regexp.Regexp {
	r := strings.NewReplacer(
		"H16", `[0-9A-Fa-f]{1,4}`,
		"LS32", `(?:H16:H16|IPV4)`,
		"IPV4", `(?:DEC\.DEC\.DEC\.DEC)`,
		"DEC", `(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])`,
	)
	expand := func(s string) string {
		for i := 0; i < 4; i++ {
			s = r.Replace(s)
		}
		return s
	}
	ipv6 := expand(strings.Join([]string{
		`(?:H16:){6}LS32`,
		`::(?:H16:){5}LS32`,
		`(?:H16)?::(?:H16:){4}LS32`,
		`(?:(?:H16:){0,1}H16)?::(?:H16:){3}LS32`,
		`(?:(?:H16:){0,2}H16)?::(?:H16:){2}LS32`,
		`(?:(?:H16:){0,3}H16)?::H16:LS32`,
		`(?:(?:H16:){0,4}H16)?::LS32`,
		`(?:(?:H16:){0,5}H16)?::H16`,
		`(?:(?:H16:){0,6}H16)?::`,
	}, "|"))
	const unreservedSubDelims = `A-Za-z0-9\-._~!$&'()*+,;=`
	ipvFuture := `[vV][0-9A-Fa-f]+\.[` + unreservedSubDelims + `:]+`
	regName := `(?:[` + unreservedSubDelims + `]|%[0-9A-Fa-f]{2})*`
	return regexp.MustCompile(`^(?:\[(?:` + ipv6 + `|` + ipvFuture + `)\]|` + regName + `)(?::[0-9]*)?$`)
}()
