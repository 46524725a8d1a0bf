package notify

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func listen(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "n")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

func TestMessages(t *testing.T) {
	path, c := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n := New()
	for _, step := range []struct {
		send func() error
		want string
	}{
		{func() error { return n.Ready("up") }, "READY=1\nSTATUS=up"},
		{func() error { return n.Status("3 active") }, "STATUS=3 active"},
		{n.Watchdog, "WATCHDOG=1"},
		{func() error { return n.Stopping("bye") }, "STOPPING=1\nSTATUS=bye"},
	} {
		if err := step.send(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1024)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:k]); got != step.want {
			t.Errorf("want %q, got %q", step.want, got)
		}
	}
	if os.Getenv("NOTIFY_SOCKET") != path {
		t.Errorf("want NOTIFY_SOCKET kept for later messages")
	}
}

func TestNoSocketIsNoError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := New().Ready("x"); err != nil {
		t.Errorf("want no error without NOTIFY_SOCKET, got %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for i, c := range []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"", "", 0, false},
		{"2000000", "", time.Second, false},
		{"2000000", "1", 0, false}, // meant for another process
		{"bogus", "", 0, true},
	} {
		t.Setenv("WATCHDOG_USEC", c.usec)
		t.Setenv("WATCHDOG_PID", c.pid)
		got, err := WatchdogInterval()
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("#%d: want %s (error %v), got %s, %v", i, c.want, c.wantErr, got, err)
		}
	}
}
