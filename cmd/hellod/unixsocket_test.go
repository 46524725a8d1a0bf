package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// unixHello makes one request on the unix socket sock and returns the
// status line of the answer.
func unixHello(t *testing.T, sock string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: want a connection, got %v", sock, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, getReq)
	b, _ := io.ReadAll(c)
	return statusLine(string(b))
}

func fileExists(path string) bool { _, err := os.Lstat(path); return err == nil }

// A self-bound unix socket's file is removed at every clean exit.
func TestUnixSocketRemovedAtExit(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		stop func(d *daemon)
	}{
		{"SIGTERM", nil, func(d *daemon) { d.signal(syscall.SIGTERM) }},
		{"SIGINT", nil, func(d *daemon) { d.signal(syscall.SIGINT) }},
		{"idle exit", []string{"--idle-exit", "300ms"}, func(*daemon) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "h.sock")
			d := start(t, nil, append([]string{"--listen", "unix:" + sock}, c.args...)...)
			if got := unixHello(t, sock); got != "HTTP/1.1 200 OK" {
				t.Fatalf("want a 200 on %s, got %q", sock, got)
			}
			c.stop(d)
			if code := d.wait(30 * time.Second); code != 0 {
				t.Errorf("want exit status 0, got %d", code)
			}
			if fileExists(sock) {
				t.Errorf("want %s removed at exit, got it still there", sock)
			}
		})
	}
}

// After a crash (SIGKILL) the file stays, refusing connections: the next
// start replaces it. While a daemon listens on it, a second one refuses to
// start (exit status 1, one line) and leaves the first one serving.
func TestUnixSocketStaleAndLive(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	d := start(t, nil, "--listen", "unix:"+sock)
	d.signal(syscall.SIGKILL)
	d.wait(30 * time.Second)
	if !fileExists(sock) {
		t.Fatalf("want the crashed daemon's %s left behind, got no file", sock)
	}
	d2 := start(t, nil, "--listen", "unix:"+sock)
	if got := unixHello(t, sock); got != "HTTP/1.1 200 OK" {
		t.Fatalf("want the new daemon to serve on the replaced %s, got %q", sock, got)
	}
	code, _, stderr := runOnce(t, nil, nil, "--listen", "unix:"+sock)
	if code != 1 {
		t.Errorf("a second daemon on a live socket: want exit status 1, got %d (stderr %q)", code, stderr)
	}
	want := "listen on unix:" + sock + ": " + sock + ": another process is listening on it"
	checkOneLine(t, stderr, "level=ERROR", want)
	if got := unixHello(t, sock); got != "HTTP/1.1 200 OK" {
		t.Errorf("want the first daemon still serving, got %q", got)
	}
	d2.signal(syscall.SIGTERM)
	if code := d2.wait(30 * time.Second); code != 0 {
		t.Errorf("want exit status 0, got %d", code)
	}
	if fileExists(sock) {
		t.Errorf("want %s removed at exit, got it still there", sock)
	}
}
