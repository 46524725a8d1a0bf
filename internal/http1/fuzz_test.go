package http1

import (
	"testing"

	"github.com/hellod/hellod/internal/response"
)

// FuzzParser checks that the parser decides as the reference (net/http) on
// the same bytes followed by end of stream, both read in pieces of 4096, 7
// and 1 bytes (agree), and that the outcome is one that can be answered
// from bytes alone. The seed corpus is parserCases and
// testdata/fuzz/FuzzParser. The parser is fuzzed as it runs in the
// children: no build tag, no twin.
//
//	go test -run '^$' -fuzz '^FuzzParser$' -fuzztime 60s ./internal/http1
func FuzzParser(f *testing.F) {
	for _, c := range parserCases {
		if len(c) < 1024 {
			f.Add([]byte(c))
		}
	}
	strict := StrictColons()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, chunk := range []int{4096, 7, 1} {
			if err := agree(data, chunk, strict); err != nil {
				t.Fatalf("%q: %v", data, err)
			}
		}
		switch req, _ := parse(data, 4096, strict); req.Outcome {
		case response.OKGet, response.OKHead, response.BadRequest, response.MethodNotAllowed,
			response.URITooLong, response.HeaderTooLarge, response.VersionNotSupported, response.ClientGone:
		default:
			t.Fatalf("%q: outcome %v", data, req.Outcome)
		}
	})
}
