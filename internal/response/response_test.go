package response

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestAppendParsesAsHTTP(t *testing.T) {
	date := time.Date(2026, 11, 25, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, o := range Responses {
		raw := Append(nil, o, "Hello, World!\n", date)
		method := http.MethodGet
		if o == OKHead {
			method = http.MethodHead
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%v: ReadResponse: %v\n%q", o, err, raw)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%v: body: %v", o, err)
		}
		if resp.StatusCode != o.Status() {
			t.Errorf("%v: want status %d, got %d", o, o.Status(), resp.StatusCode)
		}
		if got := resp.Header.Get("Date"); got != "Wed, 25 Nov 2026 08:00:00 GMT" {
			t.Errorf("%v: want Date in GMT, got %q", o, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
			t.Errorf("%v: want text/plain; charset=utf-8, got %q", o, got)
		}
		if !resp.Close {
			t.Errorf("%v: want Connection: close", o)
		}
		wantBody := "Hello, World!\n"
		if o != OKGet && o != OKHead {
			wantBody = strconv.Itoa(o.Status()) + " " + http.StatusText(o.Status()) + "\n"
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(wantBody)) {
			t.Errorf("%v: want Content-Length %d, got %q", o, len(wantBody), cl)
		}
		if o == OKHead {
			wantBody = ""
		}
		if string(body) != wantBody {
			t.Errorf("%v: want body %q, got %q", o, wantBody, body)
		}
		if allow := resp.Header.Get("Allow"); (o == MethodNotAllowed) != (allow == "GET, HEAD") {
			t.Errorf("%v: Allow header %q", o, allow)
		}
		if !bytes.Contains(raw, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(raw[:bytes.Index(raw, []byte("\r\n\r\n"))], []byte("\r\n"), nil), []byte("\n")) {
			t.Errorf("%v: header lines must end in CRLF: %q", o, raw)
		}
	}
}

func TestAppendNothingForSilentOutcomes(t *testing.T) {
	for _, o := range []Outcome{Failed, Usage, Unsandboxed, ClientGone, WriteFailed} {
		if got := Append(nil, o, "x", time.Now()); len(got) != 0 {
			t.Errorf("%v: want no bytes, got %q", o, got)
		}
	}
}

func TestExitCodes(t *testing.T) {
	seen := map[Outcome]bool{}
	for code := 0; code < 256; code++ {
		o, ok := FromExitCode(code)
		if !ok {
			continue
		}
		if int(o) != code {
			t.Errorf("#%d: want outcome %d, got %d", code, code, o)
		}
		if code >= 128 {
			t.Errorf("#%d: outcome codes must stay below 128 (signal range)", code)
		}
		seen[o] = true
	}
	for _, o := range Responses {
		if !seen[o] {
			t.Errorf("%v: want FromExitCode to know it", o)
		}
	}
	if _, ok := FromExitCode(137); ok {
		t.Errorf("137: want unknown (it is 128+SIGKILL)")
	}
	if _, ok := FromExitCode(-1); ok {
		t.Errorf("-1: want unknown")
	}
}

// TestStatusTextMatchesNetHTTP: the reason phrases and the Date format are
// net/http's, which this package does not import.
func TestStatusTextMatchesNetHTTP(t *testing.T) {
	for _, o := range Responses {
		if got, want := statusText(o.Status()), http.StatusText(o.Status()); got != want {
			t.Errorf("%d: want %q, got %q", o.Status(), want, got)
		}
	}
	if timeFormat != http.TimeFormat {
		t.Errorf("want %q, got %q", http.TimeFormat, timeFormat)
	}
}

// TestNotImplemented: 501 is net/http's Not Implemented, sent and reported.
func TestNotImplemented(t *testing.T) {
	if NotImplemented.Status() != http.StatusNotImplemented || statusText(501) != http.StatusText(http.StatusNotImplemented) {
		t.Errorf("want 501 %q, got %d %q", http.StatusText(501), NotImplemented.Status(), statusText(501))
	}
	if o, ok := FromExitCode(17); !ok || o != NotImplemented {
		t.Errorf("want exit code 17 to be NotImplemented, got %v, %v", o, ok)
	}
}
