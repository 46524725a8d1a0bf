// Code generated from forkparse.go by TestForkParseFuzzCopy -update-forkfuzz; DO NOT EDIT.

//go:build forkfuzz

package child

// The fork child's request parser. It runs in the forked child, so the
// CONTRACT at the top of forkchild.go applies to every function here
// (nosplit, norace, no allocation, no runtime calls, bounded indexes). It
// reproduces, byte for byte, what ReadHead, Decide and Classify (that is
// http.ReadRequest with net/url and net/textproto of this Go release)
// decide; fork_test.go and FuzzForkParser check that it does.
//
// forkparse.go is the parser's only source. forkparse_fuzz.go is generated
// from it (go generate; TestForkParseFuzzCopy fails when it is stale) for
// builds with -tags forkfuzz: the same code without the nosplit, norace and
// nocheckptr pragmas. Fuzzing needs it: go test -fuzz instruments every
// package of the test binary, which enlarges these frames beyond what the
// linker's nosplit check allows. A forkfuzz build refuses the fork
// strategy (forkParserNosplit), since its child would call functions that
// may grow the stack.

import "github.com/hellod/hellod/internal/response"

// forkParserNosplit reports whether this build's parser can run in a forked
// child (it is false in the generated forkfuzz copy).
const forkParserNosplit = false

// headScan collects a request head in a buffer as ReadHead does: leading
// empty lines are dropped, the request line and the header section are
// bounded.
type headScan struct {
	w         int // bytes of head kept at the start of the buffer
	lineStart int
	lineEnd   int // end of the request line (after its LF), -1 before
	overflow  bool
	extra     bool // bytes after the head were read with it
}

// tooLongFrag is where ReadHead's third 4 KiB fragment of an overlong
// request line ends: what it has read when it gives up on the line.
const tooLongFrag = 3 * 4096

// headComplete is what feed reports for a complete head, which the caller
// then classifies (in its own frame, to keep the nosplit chain short).
const headComplete response.Outcome = 255

// feed takes the n bytes just read at buf[h.w:]. It reports the outcome
// once the head is complete or over a limit.
func (h *headScan) feed(buf []byte, n int) (response.Outcome, bool) {
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
			// Decide reads the method off the line after leading CRs;
			// only a line of CRs makes it wait for the rest of the
			// fragment ReadHead holds.
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
			return headComplete, true
		case h.lineEnd < 0:
			h.lineEnd = h.w
		}
		h.lineStart = h.w
	}
	return 0, false
}

func (h *headScan) tooLong(buf []byte) response.Outcome {
	if h.w <= len(buf) && looksLikeRequestLineFork(buf[:h.w]) {
		return response.URITooLong
	}
	return response.BadRequest
}

// atEOF is Decide's answer to an end of stream before a complete head.
func (h *headScan) atEOF(buf []byte) response.Outcome {
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

func looksLikeRequestLineFork(head []byte) bool {
	i := 0
	for i < len(head) && (head[i] == '\r' || head[i] == '\n') {
		i++
	}
	head = head[i:]
	sp := forkIndex(head, ' ')
	if sp <= 0 || sp > maxMethod {
		return false
	}
	return forkIsToken(head[:sp])
}

func forkIndex(b []byte, c byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func forkLastIndex(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// forkTokenByte is textproto's validHeaderFieldByte (RFC 9110 tchar).
func forkTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func forkIsToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !forkTokenByte(b[i]) {
			return false
		}
	}
	return true
}

// forkEqualFold compares b with the lower-case ASCII literal s, ignoring
// ASCII case (internal/ascii.EqualFold).
func forkEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func forkEqual(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != s[i] {
			return false
		}
	}
	return true
}

// forkTrimSpace is textproto.TrimString: ASCII SP, HT, CR, LF at both ends.
func forkTrimSpace(b []byte) []byte {
	for len(b) > 0 && forkIsSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && forkIsSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func forkIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// header fields the decision depends on.
type forkHeaders struct {
	hosts, cls, tes int
	host, cl, te    [2]int // value spans in the header section
	clMismatch      bool
	trailerBad      bool
	spaceInName     bool // a field name with a space (not a token)
	folded          bool // obsolete line folding
}

// classifyFork is Classify for a complete head (through its empty line)
// whose request line ends at lineEnd. It may rewrite the header section in
// place (folded lines are joined as textproto joins them).
func classifyFork(head []byte, lineEnd int, strictColons bool, body *bool) response.Outcome {
	if lineEnd < 1 || lineEnd > len(head) {
		return response.BadRequest
	}
	line := head[:lineEnd-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	sp := forkIndex(line, ' ')
	if sp < 0 {
		return response.BadRequest
	}
	method, rest := line[:sp], line[sp+1:]
	sp = forkIndex(rest, ' ')
	if sp < 0 {
		return response.BadRequest
	}
	target, proto := rest[:sp], rest[sp+1:]
	if !forkIsToken(method) {
		return response.BadRequest
	}
	major, minor, ok := forkVersion(proto)
	if !ok {
		return response.BadRequest
	}
	connect := forkEqual(method, "CONNECT") && !(len(target) > 0 && target[0] == '/')
	if !forkRequestURI(target, connect, strictColons) {
		return response.BadRequest
	}
	sec := head[lineEnd:]
	var hs forkHeaders
	if !forkParseHeaders(sec, &hs) {
		return response.BadRequest
	}
	if hs.hosts > 1 {
		return response.BadRequest
	}
	// readTransfer: HTTP/0.0 counts as 1.1 there.
	teApplies := major > 1 || (major == 1 && minor >= 1) || (major == 0 && minor == 0)
	chunked := false
	if hs.tes > 0 && teApplies {
		if hs.tes != 1 || !forkEqualFold(sec[hs.te[0]:hs.te[1]], "chunked") {
			return response.BadRequest
		}
		chunked = true
	}
	if hs.cls > 0 && (hs.clMismatch || !forkContentLength(sec[hs.cl[0]:hs.cl[1]])) {
		return response.BadRequest
	}
	if chunked && hs.trailerBad {
		return response.BadRequest
	}
	*body = chunked || (hs.cls > 0 && !forkZero(sec[hs.cl[0]:hs.cl[1]]))
	if major != 1 {
		return response.VersionNotSupported
	}
	if len(target) > MaxTarget {
		return response.URITooLong
	}
	// Classify's checks beyond ReadRequest: names are tokens, no obs-fold.
	if hs.spaceInName || hs.folded {
		return response.BadRequest
	}
	if hs.hosts == 0 && minor >= 1 {
		return response.BadRequest
	}
	if hs.hosts == 1 && !forkValidHost(sec[hs.host[0]:hs.host[1]]) {
		return response.BadRequest
	}
	switch {
	case forkEqual(method, "GET"):
		return response.OKGet
	case forkEqual(method, "HEAD"):
		return response.OKHead
	}
	return response.MethodNotAllowed
}

// forkVersion is http.ParseHTTPVersion.
func forkVersion(p []byte) (major, minor int, ok bool) {
	if len(p) != 8 || !forkEqual(p[:5], "HTTP/") || p[6] != '.' {
		return 0, 0, false
	}
	if p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9' {
		return 0, 0, false
	}
	return int(p[5] - '0'), int(p[7] - '0'), true
}

// forkContentLength is http's parseContentLength (strconv.ParseUint(s, 10,
// 63) of the trimmed value).
func forkContentLength(v []byte) bool {
	v = forkTrimSpace(v)
	if len(v) == 0 {
		return false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return false
		}
		if n > (1<<63-1-uint64(c-'0'))/10 {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	return true
}

// forkZero reports whether a valid Content-Length value is zero.
func forkZero(v []byte) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= '1' && v[i] <= '9' {
			return false
		}
	}
	return true
}

// forkValidHost is validHost.
func forkValidHost(h []byte) bool {
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

// forkValueByte is textproto's validHeaderValueByte.
func forkValueByte(c byte) bool {
	return c == '\t' || (c >= 0x20 && c != 0x7f)
}

// forkLine returns the end of the line starting at r in sec (the index of
// its LF) and the end of its content (without LF or CR LF), or -1.
func forkLine(sec []byte, r int) (lf, end int) {
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

// forkAppendTrimmed copies sec[from:to] without leading and trailing SP and
// HT to sec[w:] (w <= from) and returns the new w.
func forkAppendTrimmed(sec []byte, w, from, to int) int {
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

// forkParseHeaders is textproto's ReadMIMEHeader followed by the checks of
// http.ReadRequest's readTransfer, over a header section that ends with
// its empty line. It joins folded lines in place.
func forkParseHeaders(sec []byte, hs *forkHeaders) bool {
	if len(sec) > 0 && (sec[0] == ' ' || sec[0] == '\t') {
		return false
	}
	r, w := 0, 0
	for {
		lf, end := forkLine(sec, r)
		if lf < 0 {
			return false // not reached: the head ends with an empty line
		}
		if end == r {
			return true
		}
		if forkIndex(sec[r:end], ':') < 0 {
			return false
		}
		kv := w
		w = forkAppendTrimmed(sec, w, r, end)
		r = lf + 1
		for r < len(sec) && (sec[r] == ' ' || sec[r] == '\t') {
			hs.folded = true
			for r < len(sec) && (sec[r] == ' ' || sec[r] == '\t') {
				r++
			}
			lf, end = forkLine(sec, r)
			if lf < 0 {
				return false
			}
			sec[w] = ' '
			w++
			w = forkAppendTrimmed(sec, w, r, end)
			r = lf + 1
		}
		if !forkHeaderField(sec, kv, w, hs) {
			return false
		}
	}
}

// forkHeaderField checks the field sec[kv:w] ("key: value") and records
// the ones the decision depends on.
func forkHeaderField(sec []byte, kv, w int, hs *forkHeaders) bool {
	field := sec[kv:w]
	colon := forkIndex(field, ':')
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
		if !forkTokenByte(key[i]) {
			return false
		}
	}
	vs := kv + colon + 1
	for i := vs; i < w; i++ {
		if !forkValueByte(sec[i]) {
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
	case forkEqualFold(key, "host"):
		if hs.hosts == 0 {
			hs.host = [2]int{vs, w}
		}
		hs.hosts++
	case forkEqualFold(key, "content-length"):
		if hs.cls == 0 {
			hs.cl = [2]int{vs, w}
		} else if !forkSameTrimmed(sec[hs.cl[0]:hs.cl[1]], sec[vs:w]) {
			hs.clMismatch = true
		}
		hs.cls++
	case forkEqualFold(key, "transfer-encoding"):
		if hs.tes == 0 {
			hs.te = [2]int{vs, w}
		}
		hs.tes++
	case forkEqualFold(key, "trailer"):
		if forkBadTrailer(sec[vs:w]) {
			hs.trailerBad = true
		}
	}
	return true
}

func forkSameTrimmed(a, b []byte) bool {
	a, b = forkTrimSpace(a), forkTrimSpace(b)
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

// forkBadTrailer reports whether a Trailer value names a field http's
// fixTrailer refuses (Transfer-Encoding, Trailer, Content-Length).
func forkBadTrailer(v []byte) bool {
	for len(v) > 0 {
		i := forkIndex(v, ',')
		var e []byte
		if i < 0 {
			e, v = v, nil
		} else {
			e, v = v[:i], v[i+1:]
		}
		e = forkTrimSpace(e)
		if !forkIsToken(e) {
			continue
		}
		if forkEqualFold(e, "transfer-encoding") || forkEqualFold(e, "trailer") || forkEqualFold(e, "content-length") {
			return true
		}
	}
	return false
}

// forkRequestURI reports whether url.ParseRequestURI accepts target (as
// "http://"+target for a CONNECT whose target does not start with "/").
func forkRequestURI(t []byte, connect, strictColons bool) bool {
	for i := 0; i < len(t); i++ {
		if t[i] < ' ' || t[i] == 0x7f {
			return false
		}
	}
	if connect {
		if q := forkIndex(t, '?'); q >= 0 {
			t = t[:q]
		}
		a := t
		if s := forkIndex(t, '/'); s >= 0 {
			a, t = t[:s], t[s:]
		} else {
			t = nil
		}
		return forkAuthority(a, true, strictColons) && forkUnescapeOK(t, escPath)
	}
	if len(t) == 0 {
		return false
	}
	if len(t) == 1 && t[0] == '*' {
		return true
	}
	var scheme []byte
	rest := t
	for i := 0; i < len(t); i++ {
		c := t[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			continue
		}
		if '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.' {
			if i == 0 {
				break
			}
			continue
		}
		if c == ':' {
			if i == 0 {
				return false // missing protocol scheme
			}
			scheme, rest = t[:i], t[i+1:]
		}
		break
	}
	if q := forkIndex(rest, '?'); q >= 0 {
		rest = rest[:q]
	}
	if len(rest) == 0 || rest[0] != '/' {
		return len(scheme) > 0 // opaque, or no valid request URI
	}
	if len(scheme) > 0 && len(rest) >= 2 && rest[1] == '/' {
		a := rest[2:]
		rest = nil
		if s := forkIndex(a, '/'); s >= 0 {
			a, rest = a[:s], a[s:]
		}
		http := forkEqualFold(scheme, "http") || forkEqualFold(scheme, "https")
		if !forkAuthority(a, http, strictColons) {
			return false
		}
	}
	return forkUnescapeOK(rest, escPath)
}

// url's unescape modes that matter here.
const (
	escPath = iota // also userinfo: only the %XX syntax is checked
	escHost
	escZone
)

func forkHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// forkHostByte reports whether net/url lets c stand unescaped in a host
// (or zone).
func forkHostByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '"', '$', '&', '\'', '(', ')', '*', '+', ',', '-', '.', ':', ';', '<', '=', '>', '[', ']', '_', '~':
		return true
	}
	return false
}

// forkUnescapeOK reports whether url's unescape(s, mode) succeeds.
func forkUnescapeOK(s []byte, mode int) bool {
	for len(s) > 0 {
		if s[0] != '%' {
			if mode != escPath && s[0] < 0x80 && !forkHostByte(s[0]) {
				return false
			}
			s = s[1:]
			continue
		}
		if len(s) < 3 {
			return false
		}
		hi, ok1 := forkHex(s[1])
		lo, ok2 := forkHex(s[2])
		if !ok1 || !ok2 {
			return false
		}
		pct25 := hi == 2 && lo == 5
		if mode == escHost && hi < 8 && !pct25 {
			return false
		}
		if mode == escZone {
			v := hi<<4 | lo
			if !pct25 && v != ' ' && (v >= 0x80 || !forkHostByte(v)) {
				return false
			}
		}
		s = s[3:]
	}
	return true
}

// forkAuthority is url's parseAuthority.
func forkAuthority(a []byte, http, strictColons bool) bool {
	at := forkLastIndex(a, '@')
	if at < -1 || at >= len(a) || !forkHost(a[at+1:], http, strictColons) {
		return false
	}
	if at < 0 {
		return true
	}
	user := a[:at]
	for i := 0; i < len(user); i++ {
		c := user[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '-', '.', '_', ':', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%', '@':
			continue
		}
		return false
	}
	return forkUnescapeOK(user, escPath)
}

func forkPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// forkHost is url's parseHost.
func forkHost(h []byte, http, strictColons bool) bool {
	lb := forkLastIndex(h, '[')
	if lb > 0 {
		return false
	}
	if lb == 0 {
		rb := forkLastIndex(h, ']')
		if rb < 1 || rb >= len(h) || !forkPort(h[rb+1:]) {
			return false
		}
		name := h[1:rb]
		for i := 0; i < len(name); i++ {
			if z := name[i:]; len(z) >= 3 && z[0] == '%' && z[1] == '2' && z[2] == '5' {
				return forkUnescapeOK(name[:i], escHost) && forkUnescapeOK(z, escZone) &&
					len(z) > 3 && forkIPv6(name[:i])
			}
		}
		return forkUnescapeOK(name, escHost) && forkIPv6(name)
	}
	if c := forkIndex(h, ':'); c >= 0 {
		if lc := forkLastIndex(h, ':'); lc != c && (!http || !strictColons) {
			c = lc
		}
		if c < 0 || c >= len(h) || !forkPort(h[c:]) {
			return false
		}
	}
	return forkUnescapeOK(h, escHost)
}

// forkIPv6 is netip's parseIPv6 without a zone.
func forkIPv6(s []byte) bool {
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, uint32(0)
		for ; off < len(s); off++ {
			v, ok := forkHex(s[off])
			if !ok {
				break
			}
			acc = acc<<4 + uint32(v)
			if off > 3 || acc > 0xffff {
				return false
			}
		}
		if off <= 0 || off > len(s) {
			return false
		}
		if uint(off) < uint(len(s)) && s[off] == '.' {
			if ellipsis < 0 && i != 12 || i+4 > 16 || !forkIPv4(s) {
				return false
			}
			s = nil
			i += 4
			break
		}
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return false
	}
	if i < 16 {
		return ellipsis >= 0
	}
	return ellipsis < 0
}

// forkIPv4 is netip's parseIPv4Fields.
func forkIPv4(s []byte) bool {
	val, pos, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i-1] == '.' || pos == 3 {
				return false
			}
			pos++
			val, digits = 0, 0
		default:
			return false
		}
	}
	return pos == 3
}
