package http1

import "github.com/hellod/hellod/internal/response"

// Request is what Classify found in a complete head.
type Request struct {
	Outcome response.Outcome
	// KeepAlive: the client lets the connection persist (RFC 9112 section
	// 9.3): HTTP/1.1 without a "close" Connection option, HTTP/1.0 with a
	// "keep-alive" one and no "close". False when the head is malformed.
	KeepAlive bool
	// HTTP10: an HTTP/1.0 request (a persistent answer must say
	// Connection: keep-alive).
	HTTP10 bool
	// Body is the Content-Length of the request body: 0 none, -1 chunked
	// or unknown (the connection must close after the response).
	Body int64
}

// header fields the decision depends on.
type headerFields struct {
	hosts, cls, tes int
	host, cl        [2]int // value spans in the header section
	clMismatch      bool
	trailerBad      bool
	spaceInName     bool // a field name with a space (not a token)
	folded          bool // obsolete line folding
	connClose       bool // a Connection field lists "close"
	connKeepAlive   bool // a Connection field lists "keep-alive"
	te              codings
}

// Classify returns what hellod answers a complete head (through its empty
// line) whose request line ends at lineEnd with. It may rewrite the header
// section in place (folded lines are joined as textproto joins them).
//
//go:norace
//go:nocheckptr
func Classify(head []byte, lineEnd int, strictColons bool) Request {
	var rl requestLine
	if !parseRequestLine(head, lineEnd, strictColons, &rl) {
		return Request{Outcome: response.BadRequest}
	}
	method, target := head[rl.method[0]:rl.method[1]], head[rl.target[0]:rl.target[1]]
	major, minor := rl.major, rl.minor
	sec := head[lineEnd:]
	var hs headerFields
	if !parseHeaders(sec, &hs) {
		return Request{Outcome: response.BadRequest}
	}
	if hs.hosts > 1 {
		return Request{Outcome: response.BadRequest}
	}
	// readTransfer: HTTP/0.0 counts as 1.1 there.
	teApplies := major > 1 || (major == 1 && minor >= 1) || (major == 0 && minor == 0)
	chunked := false
	if hs.tes > 0 && teApplies {
		if o := codingsOutcome(&hs.te); o != 0 {
			return Request{Outcome: o}
		}
		chunked = true
	}
	var cl int64
	if hs.cls > 0 {
		n, ok := parseContentLength(sec[hs.cl[0]:hs.cl[1]])
		if !ok || hs.clMismatch {
			return Request{Outcome: response.BadRequest}
		}
		cl = n
	}
	if chunked && hs.trailerBad {
		return Request{Outcome: response.BadRequest}
	}
	req := Request{
		HTTP10: major == 1 && minor == 0,
		Body:   cl,
		// http's shouldClose, which is RFC 9112 section 9.3.
		KeepAlive: major == 1 && !hs.connClose && (minor >= 1 || hs.connKeepAlive),
	}
	switch {
	case chunked:
		req.Body = -1
	case hs.tes > 0:
		// RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding
		// has faulty framing; close after the response. (net/http ignores
		// the field in HTTP/1.0, go.dev/issue/12785, and may keep the
		// connection: the RFC wins.)
		req.Body, req.KeepAlive = -1, false
	}
	req.Outcome = classifyRest(method, target, sec, major, minor, &hs)
	return req
}

// classifyRest is the outcome of a head http.ReadRequest accepted, decided
// as net/http's server decides.
//
//go:norace
//go:nocheckptr
func classifyRest(method, target, sec []byte, major, minor int, hs *headerFields) response.Outcome {
	if major != 1 {
		return response.VersionNotSupported
	}
	if len(target) > MaxTarget {
		return response.URITooLong
	}
	// net/http's server's checks beyond ReadRequest: names are tokens,
	// no obs-fold.
	if hs.spaceInName || hs.folded {
		return response.BadRequest
	}
	if hs.hosts == 0 && minor >= 1 {
		return response.BadRequest
	}
	if hs.hosts == 1 && !validHost(sec[hs.host[0]:hs.host[1]]) {
		return response.BadRequest
	}
	switch {
	case equal(method, "GET"):
		return response.OKGet
	case equal(method, "HEAD"):
		return response.OKHead
	}
	return response.MethodNotAllowed
}

// parseContentLength is http's parseContentLength (strconv.ParseUint(s,
// 10, 63) of the trimmed value).
//
//go:norace
//go:nocheckptr
func parseContentLength(v []byte) (int64, bool) {
	v = trimSpace(v)
	if len(v) == 0 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63-1-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return int64(n), true
}

// isValueByte is textproto's validHeaderValueByte.
//
//go:norace
//go:nocheckptr
func isValueByte(c byte) bool {
	return c == '\t' || (c >= 0x20 && c != 0x7f)
}

// lineAt returns the end of the line starting at r in sec (the index of
// its LF) and the end of its content (without LF or CR LF), or -1.
//
//go:norace
//go:nocheckptr
func lineAt(sec []byte, r int) (lf, end int) {
	lf = -1
	for i := r; i < len(sec); i++ {
		if sec[i] == '\n' {
			lf = i
			break
		}
	}
	if lf < 0 {
		return -1, -1
	}
	end = lf
	if end > r && sec[end-1] == '\r' {
		end--
	}
	return lf, end
}

// appendTrimmed copies sec[from:to] without leading and trailing SP and
// HT to sec[w:] (w <= from) and returns the new w.
//
//go:norace
//go:nocheckptr
func appendTrimmed(sec []byte, w, from, to int) int {
	for from < to && (sec[from] == ' ' || sec[from] == '\t') {
		from++
	}
	for to > from && (sec[to-1] == ' ' || sec[to-1] == '\t') {
		to--
	}
	for ; from < to; from++ {
		sec[w] = sec[from]
		w++
	}
	return w
}

// parseHeaders is textproto's ReadMIMEHeader followed by the checks of
// http.ReadRequest's readTransfer, over a header section that ends with
// its empty line. It joins folded lines in place.
//
//go:norace
//go:nocheckptr
func parseHeaders(sec []byte, hs *headerFields) bool {
	if len(sec) > 0 && (sec[0] == ' ' || sec[0] == '\t') {
		return false
	}
	r, w := 0, 0
	for {
		lf, end := lineAt(sec, r)
		if lf < 0 {
			return false // not reached: the head ends with an empty line
		}
		if end == r {
			return true
		}
		if index(sec[r:end], ':') < 0 {
			return false
		}
		kv := w
		w = appendTrimmed(sec, w, r, end)
		r = lf + 1
		for r < len(sec) && (sec[r] == ' ' || sec[r] == '\t') {
			hs.folded = true
			for r < len(sec) && (sec[r] == ' ' || sec[r] == '\t') {
				r++
			}
			lf, end = lineAt(sec, r)
			if lf < 0 {
				return false
			}
			sec[w] = ' '
			w++
			w = appendTrimmed(sec, w, r, end)
			r = lf + 1
		}
		if !headerField(sec, kv, w, hs) {
			return false
		}
	}
}

// headerField checks the field sec[kv:w] ("key: value") and records
// the ones the decision depends on.
//
//go:norace
//go:nocheckptr
func headerField(sec []byte, kv, w int, hs *headerFields) bool {
	field := sec[kv:w]
	colon := index(field, ':')
	if colon <= 0 {
		return false
	}
	key := field[:colon]
	canon := true
	for i := 0; i < len(key); i++ {
		if key[i] == ' ' {
			canon = false // accepted, but never canonicalised (go.dev/issue/34540)
			hs.spaceInName = true
			continue
		}
		if !isTokenChar(key[i]) {
			return false
		}
	}
	vs := kv + colon + 1
	for i := vs; i < w; i++ {
		if !isValueByte(sec[i]) {
			return false
		}
	}
	for vs < w && (sec[vs] == ' ' || sec[vs] == '\t') {
		vs++
	}
	if !canon {
		return true
	}
	switch {
	case equalFold(key, "host"):
		if hs.hosts == 0 {
			hs.host = [2]int{vs, w}
		}
		hs.hosts++
	case equalFold(key, "content-length"):
		if hs.cls == 0 {
			hs.cl = [2]int{vs, w}
		} else if !sameTrimmed(sec[hs.cl[0]:hs.cl[1]], sec[vs:w]) {
			hs.clMismatch = true
		}
		hs.cls++
	case equalFold(key, "transfer-encoding"):
		addCodings(&hs.te, sec[vs:w])
		hs.tes++
	case equalFold(key, "connection"):
		connectionOptions(sec[vs:w], hs)
	case equalFold(key, "trailer"):
		if badTrailer(sec[vs:w]) {
			hs.trailerBad = true
		}
	}
	return true
}

//go:norace
//go:nocheckptr
func sameTrimmed(a, b []byte) bool {
	a, b = trimSpace(a), trimSpace(b)
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
