// Package response holds the HTTP/1.1 responses hellod's children send and the
// outcomes they report to the parent through their exit code (RFC 9112,
// https://www.rfc-editor.org/rfc/rfc9112).
//
// Both child strategies (exec and fork) build their bytes here, so they speak
// exactly the same HTTP.
package response

import (
	"strconv"
	"time"
)

// Outcome is what a child did with its connection. A child exits with its
// outcome as exit code, which is how the parent learns the HTTP status
// without ever reading from the client itself. Codes stay below 128 so they
// never look like "killed by a signal".
type Outcome uint8

// The outcomes. 1 and 2 keep their usual meaning (failure, usage error) for
// a child that could not run at all.
const (
	OKGet               Outcome = 0  // 200 to GET (the body is sent)
	Failed              Outcome = 1  // the child could not serve (see its stderr)
	Usage               Outcome = 2  // the child was started wrongly
	Unsandboxed         Outcome = 3  // the child could not install its seccomp filter: it served nothing
	OKHead              Outcome = 10 // 200 to HEAD (headers only)
	BadRequest          Outcome = 11 // 400: malformed request line or header
	MethodNotAllowed    Outcome = 12 // 405: a method other than GET and HEAD
	RequestTimeout      Outcome = 13 // 408: header section not complete in time
	URITooLong          Outcome = 14 // 414: request line (target) over the limit
	HeaderTooLarge      Outcome = 15 // 431: header section over the limit
	VersionNotSupported Outcome = 16 // 505: HTTP major version other than 1
	NotImplemented      Outcome = 17 // 501: a transfer coding hellod does not know
	ClientGone          Outcome = 20 // peer closed or reset before a full request; nothing sent
	WriteFailed         Outcome = 21 // the response could not be written (peer gone or too slow)
)

// Responses lists every outcome that sends a response, in a stable order.
var Responses = []Outcome{OKGet, OKHead, BadRequest, MethodNotAllowed, RequestTimeout,
	URITooLong, HeaderTooLarge, VersionNotSupported, NotImplemented}

// FromExitCode maps a child's exit code back to its outcome.
func FromExitCode(code int) (Outcome, bool) {
	o := Outcome(code)
	if code < 0 || code > 255 {
		return 0, false
	}
	switch o {
	case OKGet, Failed, Usage, Unsandboxed, OKHead, BadRequest, MethodNotAllowed, RequestTimeout,
		URITooLong, HeaderTooLarge, VersionNotSupported, NotImplemented, ClientGone, WriteFailed:
		return o, true
	}
	return 0, false
}

// Status is the HTTP status code sent for o, or 0 when nothing was sent.
func (o Outcome) Status() int {
	switch o {
	case OKGet, OKHead:
		return 200
	case BadRequest:
		return 400
	case MethodNotAllowed:
		return 405
	case RequestTimeout:
		return 408
	case URITooLong:
		return 414
	case HeaderTooLarge:
		return 431
	case NotImplemented:
		return 501
	case VersionNotSupported:
		return 505
	}
	return 0
}

// Method is the request method when the outcome implies it, else "".
func (o Outcome) Method() string {
	switch o {
	case OKGet:
		return "GET"
	case OKHead:
		return "HEAD"
	}
	return ""
}

// String describes o for logs.
func (o Outcome) String() string {
	switch o {
	case Failed:
		return "child failed"
	case Usage:
		return "child started wrongly"
	case Unsandboxed:
		return "child could not install its sandbox (seccomp), served nothing"
	case ClientGone:
		return "client closed before a complete request"
	case WriteFailed:
		return "response could not be written"
	}
	if s := o.Status(); s != 0 {
		return strconv.Itoa(s) + " " + statusText(s)
	}
	return "unknown outcome " + strconv.Itoa(int(o))
}

// Append appends the complete response for o to dst that closes the
// connection: AppendConn with Close.
func Append(dst []byte, o Outcome, message string, date time.Time) []byte {
	dst, _ = AppendConn(dst, o, message, date, Close)
	return dst
}

// timeFormat is the IMF-fixdate of a Date header (RFC 9110 section 5.6.7),
// as net/http.TimeFormat.
const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// statusText is the reason phrase of the statuses hellod sends, as
// net/http.StatusText (this package does not import net/http, so that the
// children's binary does not link it).
func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 414:
		return "Request URI Too Long"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
