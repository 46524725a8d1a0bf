package activation

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bindOne binds addr with Bind and returns its listener.
func bindOne(t *testing.T, addr string) Listener {
	t.Helper()
	ls, err := Bind(context.Background(), []string{addr})
	if err != nil {
		t.Fatalf("Bind(%s): want a listener, got %v", addr, err)
	}
	return ls[0]
}

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

func TestBindUnixRemovedAtClose(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	l := bindOne(t, "unix:"+sock)
	if !exists(sock) {
		t.Fatalf("want %s after Bind, got no file", sock)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: want nil, got %v", err)
	}
	if exists(sock) {
		t.Errorf("want %s removed by Close, got it still there", sock)
	}
	// The next start binds the same path at once.
	bindOne(t, "unix:"+sock).Close()
}

// A stale socket file: bound, closed without unlinking (as a crashed
// process leaves it). Nothing listens: Bind replaces it.
func TestBindReplacesStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if _, err := net.Dial("unix", sock); err == nil {
		t.Fatal("want the stale socket to refuse connections, got a connection")
	}
	l := bindOne(t, "unix:"+sock)
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("want the new socket to accept, got %v", err)
	}
	c.Close()
}

// A live listener on the path: Bind refuses, with ErrInUse, and leaves it
// serving.
func TestBindRefusesLiveSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	live, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	_, err = Bind(context.Background(), []string{"unix:" + sock})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "listen on unix:"+sock) {
		t.Fatalf("want %q wrapping ErrInUse, got %v", "listen on unix:"+sock+": ...", err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("want the live listener still reachable, got %v", err)
	}
	c.Close()
}

func TestBindLeavesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Bind(context.Background(), []string{"unix:" + path})
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("want an error saying %s is not a socket, got %v", path, err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Errorf("want the file untouched, got %q, %v", b, err)
	}
}

// Close removes only the file it bound: one put in its place meanwhile
// (another process's socket) stays.
func TestCloseKeepsReplacedFile(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	l := bindOne(t, "unix:"+sock)
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l.Close()
	if !exists(sock) {
		t.Errorf("want the other process's %s kept by Close, got it removed", sock)
	}
}

// An abstract socket has no file: Close and a new Bind just work.
func TestBindAbstract(t *testing.T) {
	addr := "unix:@hellod-test-" + strconv.Itoa(os.Getpid())
	l := bindOne(t, addr)
	if l.path != "" {
		t.Errorf("want no file to remove for %s, got %q", addr, l.path)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: want nil, got %v", err)
	}
	bindOne(t, addr).Close()
}
