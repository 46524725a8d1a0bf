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
	for _, c := range rfcCases {
		f.Add([]byte(c.in))
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
			response.URITooLong, response.HeaderTooLarge, response.VersionNotSupported, response.NotImplemented,
			response.ClientGone:
		default:
			t.Fatalf("%q: outcome %v", data, req.Outcome)
		}
	})
}

// FuzzHost checks validHost against the Host grammar of RFC 3986 written
// as a regular expression (refHostRE).
//
//	go test -run '^$' -fuzz '^FuzzHost$' -fuzztime 30s ./internal/http1
func FuzzHost(f *testing.F) {
	for _, h := range []string{"", "a", "a:80", "u@a", "[::1", "[::1]:80", "a:80:80", "[v1.x]", "%41",
		"[::ffff:1.2.3.4]", "[1:2:3:4:5:6:7::]", "[::1.2.3.04]", "10.0.0.256:1", "[fe80::1%25en0]"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := validHost([]byte(h)), refHostRE.MatchString(h); got != want {
			t.Fatalf("%q: want valid %v as RFC 3986's grammar, got %v", h, want, got)
		}
	})
}
