package respond

import (
	"bytes"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

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

// served is a Serve running in a goroutine: its outcome once it returns,
// and its scoreboard slot.
type served struct {
	done <-chan response.Outcome
	slot *scoreboard.Slot
}

// serveAsync serves fd in a goroutine as a child does: responses built,
// deadlines counted from now, a slot of a board of its own.
func serveAsync(t *testing.T, fd int, s Settings) served {
	t.Helper()
	return serveAsyncTable(t, fd, s, time.Now())
}

// serveAsyncTable is serveAsync with the responses' Date at date.
func serveAsyncTable(t *testing.T, fd int, s Settings, date time.Time) served {
	t.Helper()
	b, err := scoreboard.New(1)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan response.Outcome, 1)
	t.Cleanup(func() {
		<-ch // the goroutine ends by the child's deadlines; then unmap
		b.Close()
	})
	slot := b.Slot(0)
	slot.Reset(scoreboard.Now())
	tab := new(Table)
	tab.Build(s.Message, date)
	l := s.Limits(http1.StrictColons())
	now := Now()
	go func() {
		o := Serve(fd, tab, new(Buffer), slot, &l, now)
		// Close before reporting: once the test has the outcome it may end,
		// and the next test may get this descriptor number.
		unix.Close(fd)
		ch <- o
		ch <- o // for the cleanup
	}()
	return served{ch, slot}
}

var testSettings = Settings{Message: "Hello, World!\n", HeaderTimeout: 2 * time.Second, ChildTimeout: 5 * time.Second,
	KeepAliveTimeout: 2 * time.Second, KeepAliveRequests: 100}

// TestServe: the exact response of the table, and the outcome, for a GET,
// a HEAD and a bad request.
func TestServe(t *testing.T) {
	for _, c := range []struct {
		req string
		o   response.Outcome
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", response.OKGet},
		{"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", response.OKHead},
		{"GET / HTTP/1.0\r\n\r\n", response.OKGet},
		{"GET / HTTP/1.1\r\n\r\n", response.BadRequest},
	} {
		fd, client := tcpPair(t)
		start := time.Now()
		done := serveAsync(t, fd, testSettings).done
		if _, err := client.Write([]byte(c.req)); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(client)
		want := response.Append(nil, c.o, testSettings.Message, start)
		if err != nil || !bytes.Equal(withoutDate(got), withoutDate(want)) {
			t.Errorf("%q: want %q, got %q, %v", c.req, want, got, err)
		}
		if o := <-done; o != c.o {
			t.Errorf("%q: want outcome %v, got %v", c.req, c.o, o)
		}
	}
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

// withoutDate returns a response without its Date header line.
func withoutDate(b []byte) []byte { return dateLine.ReplaceAll(b, nil) }

func TestServeHeaderTimeout(t *testing.T) {
	fd, client := tcpPair(t)
	s := testSettings
	s.HeaderTimeout = 200 * time.Millisecond
	start := time.Now()
	done := serveAsync(t, fd, s).done
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
	done := serveAsync(t, fd, s).done
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
	done := serveAsync(t, fd, testSettings).done
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
	done := serveAsync(t, fd, testSettings).done
	client.Close()
	if o := <-done; o != response.ClientGone {
		t.Errorf("want outcome %v, got %v", response.ClientGone, o)
	}
}

func TestServeClientNeverReads(t *testing.T) {
	// A client that sends requests but never reads: the child's writes
	// stop at WriteTimeout instead of blocking forever.
	fd, client := tcpPair(t)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	client.SetReadBuffer(4096)
	s := testSettings
	s.Message = strings.Repeat("m", 16<<20) // more than both socket buffers hold
	s.ChildTimeout = 500 * time.Millisecond
	done := serveAsync(t, fd, s).done
	client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case o := <-done:
		if o != response.WriteFailed {
			t.Errorf("want outcome %v, got %v", response.WriteFailed, o)
		}
	case <-time.After(WriteTimeout + 5*time.Second):
		t.Fatalf("want the child to stop writing within %s of the write's start", WriteTimeout)
	}
}
