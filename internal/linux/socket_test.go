package linux

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSocketInspectsAndRejects(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	info, err := Socket(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	if info.Domain != unix.AF_UNIX || info.Type != unix.SOCK_STREAM || info.Listening {
		t.Errorf("want a connected AF_UNIX stream socket, got %+v", info)
	}
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := Socket(p[0]); err == nil || !errors.Is(err, unix.ENOTSOCK) {
		t.Errorf("want ENOTSOCK for a pipe, got %v", err)
	}
}

func TestAcceptQueue(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rc, _ := l.(*net.TCPListener).SyscallConn()
	count := func() (n int) {
		rc.Control(func(fd uintptr) { n = AcceptQueue(int(fd)) })
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("want 0 waiting, got %d", n)
	}
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("want 3 waiting, got %d", count())
		}
		time.Sleep(time.Millisecond)
	}
	u, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	urc, _ := u.(*net.UnixListener).SyscallConn()
	c, err := net.Dial("unix", u.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	urc.Control(func(fd uintptr) { n = AcceptQueue(int(fd)) })
	if n != 1 {
		t.Errorf("unix: want 1 (readable), got %d", n)
	}
}
