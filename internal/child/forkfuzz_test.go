package child

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/response"
)

var updateForkFuzz = flag.Bool("update-forkfuzz", false, "rewrite forkparse_fuzz.go from forkparse.go")

// forkFuzzCopy derives forkparse_fuzz.go from forkparse.go: the opposite
// build constraint, no nosplit/norace/nocheckptr pragmas (with the "//"
// lines that only separated them from a doc comment) and
// forkParserNosplit false. Nothing else changes.
func forkFuzzCopy(src []byte) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString("// Code generated from forkparse.go by TestForkParseFuzzCopy -update-forkfuzz; DO NOT EDIT.\n\n")
	lines := strings.SplitAfter(string(src), "\n")
	isPragma := func(l string) bool {
		switch strings.TrimSpace(l) {
		case "//go:nosplit", "//go:norace", "//go:nocheckptr":
			return true
		}
		return false
	}
	build, konst, pragmas := 0, 0, 0
	for i, l := range lines {
		switch t := strings.TrimSpace(l); {
		case t == "//go:build !forkfuzz":
			l = "//go:build forkfuzz\n"
			build++
		case t == "const forkParserNosplit = true":
			l = "const forkParserNosplit = false\n"
			konst++
		case isPragma(l):
			pragmas++
			continue
		case t == "//" && i+1 < len(lines) && isPragma(lines[i+1]):
			continue
		}
		out.WriteString(l)
	}
	if build != 1 || konst != 1 || pragmas == 0 {
		return nil, fmt.Errorf("forkparse.go: want one %q, one %q and pragmas, got %d, %d, %d",
			"//go:build !forkfuzz", "const forkParserNosplit = true", build, konst, pragmas)
	}
	return format.Source(out.Bytes())
}

// TestForkParseFuzzCopy keeps forkparse_fuzz.go what forkFuzzCopy makes of
// forkparse.go, so that the parser has one source. Run go generate (or this
// test with -args -update-forkfuzz) after editing forkparse.go.
func TestForkParseFuzzCopy(t *testing.T) {
	src, err := os.ReadFile("forkparse.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := forkFuzzCopy(src)
	if err != nil {
		t.Fatal(err)
	}
	if *updateForkFuzz {
		if err := os.WriteFile("forkparse_fuzz.go", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("forkparse_fuzz.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("forkparse_fuzz.go is stale: run go generate ./internal/child")
	}
}

// chunkReader returns at most n bytes per Read, as a socket may.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[m:]
	return m, nil
}

// FuzzDecide checks the exec child's decision on arbitrary bytes followed
// by end of stream: no panic, an outcome that can be answered from bytes
// alone, and nothing read past the head, whatever the read sizes.
func FuzzDecide(f *testing.F) {
	for _, c := range parserCases {
		if len(c) < 1024 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want response.Outcome
		for i, chunk := range []int{4096, 1, 7} {
			r := &chunkReader{data, chunk}
			br := bufio.NewReaderSize(r, 4096)
			o := Decide(br)
			switch o {
			case response.OKGet, response.OKHead, response.BadRequest, response.MethodNotAllowed,
				response.URITooLong, response.HeaderTooLarge, response.VersionNotSupported, response.ClientGone:
			default:
				t.Fatalf("%q (reads of %d): outcome %v", data, chunk, o)
			}
			if i == 0 {
				want = o
			} else if o != want {
				t.Fatalf("%q: %v with reads of %d, %v with reads of 4096", data, o, chunk, want)
			}
			// The head ReadHead takes is a suffix of what was consumed,
			// after nothing but empty lines; the rest stays unread.
			cr := &chunkReader{data, chunk}
			br = bufio.NewReaderSize(cr, 4096)
			head, err := ReadHead(br)
			if err != nil {
				continue
			}
			used := len(data) - len(cr.b) - br.Buffered()
			if used < len(head) || !bytes.Equal(data[used-len(head):used], head) ||
				len(bytes.Trim(data[:used-len(head)], "\r\n")) != 0 {
				t.Fatalf("%q (reads of %d): head %q, consumed %d bytes", data, chunk, head, used)
			}
		}
	})
}
