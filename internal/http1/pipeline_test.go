package http1

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/response"
)

// verdict is what a server decides about one request of a pipeline.
type verdict struct {
	Request
	stop int // where the head ended in the stream; -1 for no complete head
}

// persists reports whether the connection goes on after req: a 200 the
// client lets persist, with a body of known length (which is skipped).
func persists(req Request) bool {
	return (req.Outcome == response.OKGet || req.Outcome == response.OKHead) && req.KeepAlive && req.Body >= 0
}

// pipeline runs the Scanner over a stream of requests read in pieces of
// at most chunk bytes, as a persistent connection's child drives it: Feed
// until a verdict, Classify, Next past the head and its Content-Length
// body (the rest of which it drops from the stream), until a request that
// must close or an error.
func pipeline(data []byte, chunk int, strict bool) []verdict {
	buf := make([]byte, BufSize)
	var h Scanner
	h.SetStrictColons(strict)
	h.Reset()
	var vs []verdict
	pos := 0 // bytes taken from the stream
	o, done := response.Outcome(0), false
	for {
		for !done {
			if pos == len(data) {
				o, done = h.Ended(buf, EndOfStream), true
				break
			}
			free := h.Free(buf)
			n := copy(free[:min(chunk, len(free))], data[pos:])
			pos += n
			o, done = h.Feed(buf, n)
		}
		if o != Complete {
			return append(vs, verdict{Request{Outcome: o}, -1})
		}
		req := h.Classify(buf, strict)
		vs = append(vs, verdict{req, pos - (h.re - h.rs)})
		if !persists(req) {
			return vs
		}
		var left int64
		o, done, left = h.Next(buf, req.Body)
		if left > int64(len(data)-pos) {
			return append(vs, verdict{Request{Outcome: response.ClientGone}, -1})
		}
		pos += int(left)
	}
}

// refPipeline is the reference's verdicts on the same stream: the
// reference (net/http.ReadRequest with hellod's limits and rules) reading
// one head after another from one bufio.Reader, discarding each
// Content-Length body from it.
func refPipeline(data []byte, chunk int) []verdict {
	cr := &chunkReader{data, chunk}
	r := bufio.NewReaderSize(cr, 4096)
	var vs []verdict
	for {
		req, complete := refDecideHead(r)
		if !complete {
			return append(vs, verdict{req, -1})
		}
		vs = append(vs, verdict{req, len(data) - len(cr.b) - r.Buffered()})
		if !persists(req) {
			return vs
		}
		if _, err := r.Discard(int(req.Body)); err != nil {
			return append(vs, verdict{Request{Outcome: response.ClientGone}, -1})
		}
	}
}

// agreePipeline compares pipeline with refPipeline on data read in pieces
// of chunk bytes. Keep-alive, body and stop point matter only to a 200
// (every other response closes).
func agreePipeline(data []byte, chunk int, strict bool) error {
	got, want := pipeline(data, chunk, strict), refPipeline(data, chunk)
	for i := 0; i < max(len(got), len(want)); i++ {
		if i >= len(got) || i >= len(want) {
			return fmt.Errorf("reads of %d: want %d verdicts as net/http (%+v), got %d (%+v)", chunk, len(want), want, len(got), got)
		}
		g, w := got[i], want[i]
		if g.Outcome != w.Outcome || (w.Outcome == response.OKGet || w.Outcome == response.OKHead) && g != w {
			return fmt.Errorf("reads of %d, request #%d: want %+v as net/http, got %+v", chunk, i, w, g)
		}
	}
	return nil
}

// FuzzPipeline checks that the Scanner decides a stream of pipelined
// requests as the reference (net/http) does, request after request: the
// same outcomes, keep-alive, declared body and end of each head, read in
// pieces of 4096 and 7 bytes. The seed corpus is testdata/fuzz/FuzzPipeline.
//
//	go test -run '^$' -fuzz '^FuzzPipeline$' -fuzztime 60s ./internal/http1
func FuzzPipeline(f *testing.F) {
	strict := StrictColons()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, chunk := range []int{4096, 7} {
			if err := agreePipeline(data, chunk, strict); err != nil {
				t.Fatalf("%q: %v", data, err)
			}
		}
	})
}

// TestPipelineVerdicts: the comparison of FuzzPipeline sees whole
// sequences: each pipelined request, where its head ends and why the
// connection stops.
func TestPipelineVerdicts(t *testing.T) {
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	withBody := "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
	ok := Request{Outcome: response.OKGet, KeepAlive: true}
	gone := verdict{Request{Outcome: response.ClientGone}, -1}
	for _, c := range []struct {
		in   string
		want []verdict
	}{
		{get + "\r\n" + get, []verdict{{ok, len(get)}, {ok, 2*len(get) + 2}, gone}},
		{withBody + "abc" + get, []verdict{{Request{Outcome: response.OKGet, KeepAlive: true, Body: 3}, len(withBody)},
			{ok, len(withBody) + 3 + len(get)}, gone}},
		{withBody + "ab", []verdict{{Request{Outcome: response.OKGet, KeepAlive: true, Body: 3}, len(withBody)}, gone}},
		{get + "GET /\r\n" + get, []verdict{{ok, len(get)}, {Request{Outcome: response.BadRequest}, -1}}},
		{"GET / HTTP/1.0\r\n\r\n" + get, []verdict{{Request{Outcome: response.OKGet, HTTP10: true}, 18}}},
	} {
		for _, chunk := range []int{4096, 7, 1} {
			got := pipeline([]byte(c.in), chunk, StrictColons())
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%q in reads of %d: want %+v, got %+v", c.in, chunk, c.want, got)
			}
			if err := agreePipeline([]byte(c.in), chunk, StrictColons()); err != nil {
				t.Errorf("%q: %v", c.in, err)
			}
		}
	}
}

// TestPipelineLimits: a pipelined head over a limit is judged as the first
// head of a connection is, wherever the previous request left the buffer.
func TestPipelineLimits(t *testing.T) {
	first := "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("b", 1000)
	for _, second := range []string{
		"GET /" + strings.Repeat("a", MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /" + strings.Repeat("a", 2*MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n",
		strings.Repeat("a", 2*MaxTarget) + "\r\n\r\n",
		strings.Repeat("\r", maxRequestLine) + "GET /" + strings.Repeat("a", 100) + "\r\n",
		"\r\n\r\n" + strings.Repeat("\r", maxRequestLine-3) + "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes-len("Host: x\r\nX: \r\n\r\n")) + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n",
	} {
		for _, skew := range []int{0, 1, 4095} {
			in := strings.Replace(first, "1000", fmt.Sprint(1000+skew), 1) + strings.Repeat("c", skew) + second + first
			for _, chunk := range []int{4096, 7, 1} {
				if err := agreePipeline([]byte(in), chunk, StrictColons()); err != nil {
					t.Errorf("%q after a body of %d: %v", trunc(second), 1000+skew, err)
				}
			}
		}
	}
}
