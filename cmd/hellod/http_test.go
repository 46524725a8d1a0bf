package main

// What a client sees: every status code, the message, real clients.

import (
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestEveryStatusCode(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--header-timeout", "500ms")
		long := strings.Repeat("a", 9000)
		for _, c := range []struct {
			name, req, status string
		}{
			{"get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
			{"get any target", "GET /any/where?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
			{"head", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
			{"http/1.0", "GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"},
			{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 405 Method Not Allowed"},
			{"malformed", "HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request"},
			{"no host", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
			{"bad header", "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "HTTP/1.1 400 Bad Request"},
			{"long target", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 Request URI Too Long"},
			{"big headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + long + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
			{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
			{"http/3", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
			{"slow", "GET / HTTP/1.1\r\nHost: x\r\n", "HTTP/1.1 408 Request Timeout"},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp := exchange(t, d.addr, c.req)
				if got := statusLine(resp); got != c.status {
					t.Fatalf("want %q, got %q", c.status, resp)
				}
				head, body, ok := strings.Cut(resp, "\r\n\r\n")
				if !ok {
					t.Fatalf("want a header section ending in CRLF CRLF, got %q", resp)
				}
				for _, h := range []string{"\r\nDate: ", "\r\nContent-Type: text/plain; charset=utf-8", "\r\nConnection: close"} {
					if !strings.Contains(head, h) {
						t.Errorf("want %q in %q", h, head)
					}
				}
				wantBody := "Hello, World!\n"
				if !strings.HasPrefix(c.status, "HTTP/1.1 200") {
					wantBody = strings.TrimPrefix(c.status, "HTTP/1.1 ") + "\n"
				}
				if !strings.Contains(head, "\r\nContent-Length: "+strconv.Itoa(len(wantBody))) {
					t.Errorf("want Content-Length %d in %q", len(wantBody), head)
				}
				if c.name == "head" {
					wantBody = ""
				}
				if body != wantBody {
					t.Errorf("want body %q, got %q", wantBody, body)
				}
			})
		}
		d.waitLog("(1x 408)")
		for _, want := range []string{"(1x 200)", "(1x 405)", "(1x 400)", "(1x 414)", "(1x 431)", "(1x 505)"} {
			if !strings.Contains(d.logText(), want) {
				t.Errorf("want %q in the log", want)
			}
		}
	})
}

func TestMessageAndRealClients(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, []string{"HELLOD_MESSAGE=Bonjour\n"}, strategy)
		// Go's client.
		for _, method := range []string{"GET", "HEAD"} {
			req, _ := http.NewRequest(method, "http://"+d.addr+"/x", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := "Bonjour\n"
			if method == "HEAD" {
				want = ""
			}
			if resp.StatusCode != 200 || string(body) != want || resp.ContentLength != 8 {
				t.Errorf("%s: want 200 %q (length 8), got %d %q (%d)", method, want, resp.StatusCode, body, resp.ContentLength)
			}
		}
		// curl and Python's http.client, when present (CI installs them).
		for _, c := range []struct {
			name string
			args []string
		}{
			{"curl", []string{"-sS", "--fail", "--max-time", "20", "http://" + d.addr + "/"}},
			{"python3", []string{"-c", `import http.client,sys; c=http.client.HTTPConnection(sys.argv[1],timeout=20); c.request("GET","/"); r=c.getresponse(); sys.stdout.write(str(r.status)+" "+r.read().decode())`, d.addr}},
		} {
			if _, err := exec.LookPath(c.name); err != nil {
				t.Logf("%s not installed: skipped", c.name)
				continue
			}
			out, err := exec.Command(c.name, c.args...).CombinedOutput()
			want := "Bonjour\n"
			if c.name == "python3" {
				want = "200 Bonjour\n"
			}
			if err != nil || string(out) != want {
				t.Errorf("%s: want %q, got %q (%v)", c.name, want, out, err)
			}
		}
	})
}
