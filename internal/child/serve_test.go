package child

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// decideCases are request heads and the outcome hellod answers them with.
var decideCases = []struct {
	name string
	in   string
	want response.Outcome
}{
	{"get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", response.OKGet},
	{"get any target", "GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8000\r\nUser-Agent: t\r\n\r\n", response.OKGet},
	{"head", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", response.OKHead},
	{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n", response.OKGet},
	{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", response.OKGet},
	{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", response.OKGet},
	{"absolute form", "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", response.OKGet},
	{"asterisk options", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", response.MethodNotAllowed},
	{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", response.MethodNotAllowed},
	{"delete", "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n", response.MethodNotAllowed},
	{"lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", response.MethodNotAllowed},
	{"http/1.1 without host", "GET / HTTP/1.1\r\n\r\n", response.BadRequest},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", response.BadRequest},
	{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", response.BadRequest},
	{"garbage", "garbage\r\n\r\n", response.BadRequest},
	{"no version", "GET /\r\n\r\n", response.BadRequest},
	{"bad version", "GET / HTTP/x.y\r\nHost: x\r\n\r\n", response.BadRequest},
	{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", response.BadRequest},
	{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", response.BadRequest},
	{"control char in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", response.BadRequest},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", response.BadRequest},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", response.BadRequest},
	{"http/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", response.VersionNotSupported},
	{"http/2 preface", "PRI * HTTP/2.0\r\n\r\n", response.VersionNotSupported},
	{"http/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", response.VersionNotSupported},
	{"target at limit", "GET /" + strings.Repeat("a", MaxTarget-1) + " HTTP/1.1\r\nHost: x\r\n\r\n", response.OKGet},
	{"target over limit", "GET /" + strings.Repeat("a", MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n", response.URITooLong},
	{"target far over limit", "GET /" + strings.Repeat("a", 3*MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n", response.URITooLong},
	{"overlong line without method", strings.Repeat("\x01", 3*MaxTarget) + "\r\n\r\n", response.BadRequest},
	{"headers at limit", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes-len("Host: x\r\nX: \r\n\r\n")) + "\r\n\r\n", response.OKGet},
	{"headers over limit", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n", response.HeaderTooLarge},
	{"many headers over limit", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", MaxHeaderBytes/8+1) + "\r\n", response.HeaderTooLarge},
	{"eof before anything", "", response.ClientGone},
	{"eof after empty lines", "\r\n\r\n", response.ClientGone},
	{"eof mid request line", "GET / HT", response.BadRequest},
	{"eof mid headers", "GET / HTTP/1.1\r\nHost: x\r\n", response.BadRequest},
}

func TestDecide(t *testing.T) {
	for _, c := range decideCases {
		t.Run(c.name, func(t *testing.T) {
			got := Decide(bufio.NewReaderSize(strings.NewReader(c.in), 4096))
			if got != c.want {
				t.Errorf("want %v, got %v", c.want, got)
			}
		})
	}
}

func TestReadHeadStopsAtEndOfHead(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"
	r := bufio.NewReader(strings.NewReader(in))
	head, err := ReadHead(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := in[:len(in)-4]; string(head) != want {
		t.Errorf("want head %q, got %q", want, head)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "BODY" {
		t.Errorf("want BODY left unread, got %q", rest)
	}
}

// tcpPair returns the server side of a loopback TCP connection as a
// blocking descriptor, as a child gets it, and the client side. The
// descriptor is for serveAsync, which closes it: closing it twice could
// close another test's descriptor that got the same number.
func tcpPair(t *testing.T) (int, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	f, err := sc.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd, client.(*net.TCPConn)
}

func serveAsync(fd int, s Settings) <-chan response.Outcome {
	ch := make(chan response.Outcome, 1)
	go func() {
		o := Serve(fd, s, time.Now())
		// Close before reporting: once the test has the outcome it may end,
		// and the next test may get this descriptor number.
		unix.Close(fd)
		ch <- o
	}()
	return ch
}

var testSettings = Settings{Message: "Hello, World!\n", HeaderTimeout: 2 * time.Second, ChildTimeout: 5 * time.Second}

func TestServeGet(t *testing.T) {
	fd, client := tcpPair(t)
	done := serveAsync(fd, testSettings)
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "Hello, World!\n" {
		t.Errorf("want 200 %q, got %d %q", "Hello, World!\n", resp.StatusCode, body)
	}
	client.Close()
	if o := <-done; o != response.OKGet {
		t.Errorf("want outcome %v, got %v", response.OKGet, o)
	}
}

func TestServeHeaderTimeout(t *testing.T) {
	fd, client := tcpPair(t)
	s := testSettings
	s.HeaderTimeout = 200 * time.Millisecond
	start := time.Now()
	done := serveAsync(fd, s)
	client.Write([]byte("GET / HTTP/1.1\r\n")) // and never the rest
	all, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(all, []byte("HTTP/1.1 408 Request Timeout\r\n")) {
		t.Errorf("want 408, got %q", all)
	}
	if el := time.Since(start); el < s.HeaderTimeout {
		t.Errorf("want 408 no sooner than %s, got it after %s", s.HeaderTimeout, el)
	}
	if o := <-done; o != response.RequestTimeout {
		t.Errorf("want outcome %v, got %v", response.RequestTimeout, o)
	}
}

func TestServeTricklingClientStillTimesOut(t *testing.T) {
	// The header deadline is for the whole head, not per read.
	fd, client := tcpPair(t)
	s := testSettings
	s.HeaderTimeout = 300 * time.Millisecond
	done := serveAsync(fd, s)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 100; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := client.Write([]byte("X")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case o := <-done:
		close(stop)
		if o != response.RequestTimeout {
			t.Errorf("want outcome %v, got %v", response.RequestTimeout, o)
		}
	case <-time.After(5 * time.Second):
		close(stop)
		t.Fatal("want the child to give up at the header deadline, it is still reading")
	}
}

func TestServeBodyDoesNotResetResponse(t *testing.T) {
	// A request body the child never reads must not turn into a RST that
	// destroys the response before the client reads it.
	fd, client := tcpPair(t)
	done := serveAsync(fd, testSettings)
	body := bytes.Repeat([]byte("b"), 32<<10)
	req := append([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 32768\r\n\r\n"), body...)
	if _, err := client.Write(req); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("want the complete response, got error %v after %q", err, all)
	}
	if !bytes.HasPrefix(all, []byte("HTTP/1.1 405 ")) || !bytes.HasSuffix(all, []byte("405 Method Not Allowed\n")) {
		t.Errorf("want a complete 405, got %q", all)
	}
	client.Close()
	<-done
}

func TestServeClientGone(t *testing.T) {
	fd, client := tcpPair(t)
	done := serveAsync(fd, testSettings)
	client.Close()
	if o := <-done; o != response.ClientGone {
		t.Errorf("want outcome %v, got %v", response.ClientGone, o)
	}
}

func TestServeClientNeverReads(t *testing.T) {
	// A client that sends requests but never reads: the child's writes
	// stop at its deadline instead of blocking forever.
	fd, client := tcpPair(t)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	client.SetReadBuffer(4096)
	s := testSettings
	s.Message = strings.Repeat("m", 16<<20) // more than both socket buffers hold
	s.ChildTimeout = 500 * time.Millisecond
	done := serveAsync(fd, s)
	client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case o := <-done:
		if o != response.WriteFailed {
			t.Errorf("want outcome %v, got %v", response.WriteFailed, o)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("want the child to stop writing at its deadline")
	}
}

func TestEnvStripsSystemdVariables(t *testing.T) {
	in := []string{"PATH=/bin", "LISTEN_FDS=1", "LISTEN_PID=7", "LISTEN_FDNAMES=x", "NOTIFY_SOCKET=/run/n",
		"WATCHDOG_USEC=1", "WATCHDOG_PID=7", "HELLOD_MAX_CHILDREN=3", "GOMAXPROCS=8", "JOURNAL_STREAM=1:2",
		"GODEBUG=inittrace=1"}
	got := Env(in, Settings{Message: "hi", HeaderTimeout: time.Second, ChildTimeout: 2 * time.Second})
	want := []string{"PATH=/bin", "JOURNAL_STREAM=1:2", "HELLOD_MESSAGE=hi", "HELLOD_HEADER_TIMEOUT=1s",
		"HELLOD_CHILD_TIMEOUT=2s", "GOMAXPROCS=1", "GODEBUG=inittrace=1,containermaxprocs=0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("want %q, got %q", want, got)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	for i, c := range []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "2s"}, ""},
		{map[string]string{"HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "2s"}, "HELLOD_MESSAGE is not set"},
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "x", "HELLOD_CHILD_TIMEOUT": "2s"}, `HELLOD_HEADER_TIMEOUT="x"`},
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s"}, `HELLOD_CHILD_TIMEOUT=""`},
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "-2s"}, `HELLOD_CHILD_TIMEOUT="-2s"`},
	} {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		s, err := settingsFromEnv(lookup)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("#%d: want no error, got %v", i, err)
		case c.wantErr == "" && (s.Message != "m" || s.HeaderTimeout != time.Second || s.ChildTimeout != 2*time.Second):
			t.Errorf("#%d: want m 1s 2s, got %+v", i, s)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("#%d: want error containing %q, got %v", i, c.wantErr, err)
		}
	}
}
