package child

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/response"
)

// forkDecideBytes runs the fork child's parser over data as if it arrived
// in reads of at most chunk bytes and then the stream ended.
func forkDecideBytes(data []byte, chunk int, strict bool) response.Outcome {
	buf := make([]byte, forkBufSize)
	h := headScan{lineEnd: -1}
	for len(data) > 0 {
		n := min(chunk, len(data), len(buf)-h.w)
		copy(buf[h.w:], data[:n])
		data = data[n:]
		if o, done := h.feed(buf, n); done {
			if o == headComplete {
				var body bool
				o = classifyFork(buf[:h.w], h.lineEnd, strict, &body)
			}
			return o
		}
	}
	return h.atEOF(buf)
}

func execDecideBytes(data []byte) response.Outcome {
	return Decide(bufio.NewReaderSize(bytes.NewReader(data), 4096))
}

// parserCases are requests (each then followed by end of stream) on which
// the fork parser must decide as Decide does.
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

func TestForkParserMatchesDecide(t *testing.T) {
	strict := urlStrictColons()
	for i, c := range parserCases {
		want := execDecideBytes([]byte(c))
		for _, chunk := range []int{1, 7, 4096} {
			if got := forkDecideBytes([]byte(c), chunk, strict); got != want {
				t.Errorf("#%d %q (reads of %d): fork parser %v, Decide %v", i, trunc(c), chunk, got, want)
			}
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// FuzzForkParser checks that the fork child's parser decides as Decide on
// the same bytes, both read in pieces of 4096, 7 and 1 bytes. The seed
// corpus is parserCases and testdata/fuzz/FuzzForkParser. Fuzzing needs
// the parser without its nosplit pragmas (see forkparse.go):
//
//	go test -tags forkfuzz -run '^$' -fuzz '^FuzzForkParser$' -fuzztime 60s ./internal/child
func FuzzForkParser(f *testing.F) {
	for _, c := range parserCases {
		if len(c) < 1024 {
			f.Add([]byte(c))
		}
	}
	strict := urlStrictColons()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, chunk := range []int{4096, 7, 1} {
			want := Decide(bufio.NewReaderSize(&chunkReader{data, chunk}, 4096))
			if got := forkDecideBytes(data, chunk, strict); got != want {
				t.Fatalf("%q (reads of %d): fork parser %v, Decide %v", data, chunk, got, want)
			}
		}
	})
}
