package main

// Persistent connections end to end (RFC 9112 section 9): one child serves
// every request of its connection, pipelined requests are answered in
// order, idle connections give way at the cap, and SIGTERM cuts no
// response short.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kaReq is a GET that lets the connection persist (HTTP/1.1's default).
const kaReq = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// readOne reads one response from br by its framing (net/http is the
// reference client) and returns it with its body read.
func readOne(br *bufio.Reader, method string) (*http.Response, string, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

func TestKeepAlive(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--keepalive-timeout", "5s", "--keepalive-requests", "60")
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReader(c)
		// 40 requests one after another, then 19 pipelined in one write.
		for i := 0; i < 40; i++ {
			if _, err := io.WriteString(c, kaReq); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, body, err := readOne(br, "GET")
			if err != nil || resp.StatusCode != 200 || body != "Hello, World!\n" || resp.Close {
				t.Fatalf("request %d: want a persistent 200 with the message, got %v %q close=%v", i, resp, body, resp != nil && resp.Close)
			}
		}
		methods := make([]string, 19)
		var burst strings.Builder
		for i := range methods {
			methods[i] = "GET"
			if i%3 == 1 {
				methods[i] = "HEAD"
			}
			fmt.Fprintf(&burst, "%s /%d HTTP/1.1\r\nHost: x\r\n\r\n", methods[i], i)
		}
		if _, err := io.WriteString(c, burst.String()); err != nil {
			t.Fatal(err)
		}
		for i, m := range methods {
			resp, body, err := readOne(br, m)
			want := "Hello, World!\n"
			if m == "HEAD" {
				want = ""
			}
			if err != nil || resp.StatusCode != 200 || body != want {
				t.Fatalf("pipelined %d (%s): want 200 %q, got %v %q", i, m, want, err, body)
			}
		}
		// The 60th and last response says close, and the child closes.
		io.WriteString(c, kaReq)
		resp, _, err := readOne(br, "GET")
		if err != nil || resp.StatusCode != 200 || !resp.Close {
			t.Fatalf("response 60 of --keepalive-requests 60: want a 200 with Connection: close, got %v, %v", resp, err)
		}
		if n, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after the last response: want EOF, got %q, %v", n, err)
		}
		line := d.exitLine(c)
		for _, want := range []string{": 60 requests (", "x 200", "REQUESTS=60"} {
			if !strings.Contains(line, want) {
				t.Errorf("exit line: want %q in it, got %q", want, line)
			}
		}
	})
}

// TestKeepAliveHTTP10 checks the version rules: HTTP/1.0 persists only
// when asked, and is answered with Connection: keep-alive; an error
// response closes.
func TestKeepAliveHTTP10(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--keepalive-timeout", "5s")
		for _, tc := range []struct {
			name, req  string
			status     int
			persistent bool
			header     string // the Connection header of the response, but close (net/http turns that into resp.Close)
		}{
			{"1.0", "GET / HTTP/1.0\r\n\r\n", 200, false, ""},
			{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, true, "keep-alive"},
			{"1.1", kaReq, 200, true, ""},
			{"1.1 close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, false, ""},
			{"1.1 error", "GET / HTTP/1.1\r\n\r\n", 400, false, ""},
		} {
			c, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			// The request twice: the second is answered only on a
			// persistent connection.
			io.WriteString(c, tc.req+tc.req)
			resp, _, err := readOne(br, "GET")
			if err != nil || resp.StatusCode != tc.status || resp.Header.Get("Connection") != tc.header || resp.Close == tc.persistent {
				t.Errorf("%s: want %d with Connection %q, closing %v; got %v, %v", tc.name, tc.status, tc.header, !tc.persistent, resp, err)
			}
			_, _, err = readOne(br, "GET")
			if got := err == nil; got != tc.persistent {
				t.Errorf("%s: want a second response %v, got %v (%v)", tc.name, tc.persistent, got, err)
			}
			c.Close()
		}
	})
}

// isReset reports a connection reset (what an idle connection closed with
// the client's next request unread may give).
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
