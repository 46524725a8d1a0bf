package http1

// requestLine is the request line split and checked as net/http's
// readRequest does before it reads the header section.
type requestLine struct {
	method, target [2]int // spans in the head
	major, minor   int
}

// parseRequestLine splits and checks the request line head[:lineEnd]
// (through its LF) as http.ReadRequest does before it reads any header:
// three parts, a token method, an HTTP version and a request target
// url.ParseRequestURI accepts. It reports false for a request line
// hellod rejects (400): those and an HTTP/1 asterisk-form target ("*")
// with a method other than OPTIONS (RFC 9112 section 3.2.4: it is only for a
// server-wide OPTIONS; net/http's server hands "GET *" to its handler,
// whose ServeMux answers 400).
//
//go:norace
//go:nocheckptr
func parseRequestLine(head []byte, lineEnd int, strictColons bool, rl *requestLine) bool {
	if lineEnd < 1 || lineEnd > len(head) {
		return false
	}
	line := head[:lineEnd-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	sp1 := index(line, ' ')
	if sp1 < 0 {
		return false
	}
	sp2 := index(line[sp1+1:], ' ')
	if sp2 < 0 {
		return false
	}
	sp2 += sp1 + 1
	method, target, proto := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !isToken(method) {
		return false
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return false
	}
	if major == 1 && equal(target, "*") && !equal(method, "OPTIONS") {
		return false
	}
	connect := equal(method, "CONNECT") && !(len(target) > 0 && target[0] == '/')
	if !validRequestURI(target, connect, strictColons) {
		return false
	}
	rl.method = [2]int{0, sp1}
	rl.target = [2]int{sp1 + 1, sp2}
	rl.major, rl.minor = major, minor
	return true
}

// parseVersion is http.ParseHTTPVersion.
//
//go:norace
//go:nocheckptr
func parseVersion(p []byte) (major, minor int, ok bool) {
	if len(p) != 8 || !equal(p[:5], "HTTP/") || p[6] != '.' {
		return 0, 0, false
	}
	if p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9' {
		return 0, 0, false
	}
	return int(p[5] - '0'), int(p[7] - '0'), true
}
