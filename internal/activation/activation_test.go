package activation

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckEnv(t *testing.T) {
	for i, c := range []struct {
		pid, fds string
		want     string // "" for no error
	}{
		{"100", "1", ""},
		{"100", "3", ""},
		{"100", "0", `LISTEN_FDS="0": want a positive number`},
		{"100", "x", `LISTEN_FDS="x"`},
		{"100", "2000", "too many descriptors"},
		{"", "1", `LISTEN_PID="": want the PID`},
		{"101", "1", "LISTEN_PID=101 is not this process (100)"},
	} {
		err := checkEnv(c.pid, c.fds, 100)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("#%d: want no error, got %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("#%d: want error containing %q, got %v", i, c.want, err)
		}
	}
}

func TestFromSystemdNotActivated(t *testing.T) {
	t.Setenv("LISTEN_FDS", "")
	os.Unsetenv("LISTEN_FDS")
	t.Setenv("LISTEN_PID", "1")
	if _, err := FromSystemd(); !errors.Is(err, ErrNotActivated) {
		t.Fatalf("want ErrNotActivated, got %v", err)
	}
	if v, ok := os.LookupEnv("LISTEN_PID"); ok {
		t.Errorf("want LISTEN_PID cleared, got %q", v)
	}
}

func TestFromSystemdWrongPID(t *testing.T) {
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDNAMES", "web")
	_, err := FromSystemd()
	if err == nil || !strings.Contains(err.Error(), "LISTEN_PID=1 is not this process") {
		t.Fatalf("want a LISTEN_PID error, got %v", err)
	}
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("want %s cleared so no child inherits it", v)
		}
	}
}

// fileOf returns an *os.File holding a duplicate of c's descriptor.
func fileOf(t *testing.T, c interface{ File() (*os.File, error) }) *os.File {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromFile(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	sock := filepath.Join(t.TempDir(), "s")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	// A stream socket that is not listening: a connected one.
	conn, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	regular, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		f    *os.File
		want string // error substring, "" for success
		addr string
	}{
		{"tcp listener", fileOf(t, tcp.(*net.TCPListener)), "", tcp.Addr().String()},
		{"unix listener", fileOf(t, ux.(*net.UnixListener)), "", "unix:" + sock},
		{"udp socket", fileOf(t, udp.(*net.UDPConn)), "not a stream socket (AF_INET SOCK_DGRAM)", ""},
		{"connected tcp", fileOf(t, conn.(*net.TCPConn)), "AF_INET stream socket is not listening", ""},
		{"regular file", regular, "not a socket", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := fromFile(c.f)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("want error containing %q, got %v", c.want, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("want no error, got %v", err)
			}
			defer l.Close()
			if l.Addr != c.addr {
				t.Errorf("want addr %q, got %q", c.addr, l.Addr)
			}
			fl, err := unix.FcntlInt(l.File.Fd(), unix.F_GETFL, 0)
			if err != nil || fl&unix.O_NONBLOCK == 0 {
				t.Errorf("want a non-blocking descriptor, got flags %#x, %v", fl, err)
			}
			fdfl, err := unix.FcntlInt(l.File.Fd(), unix.F_GETFD, 0)
			if err != nil || fdfl&unix.FD_CLOEXEC == 0 {
				t.Errorf("want close-on-exec, got %#x, %v", fdfl, err)
			}
		})
	}
}

func TestBind(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	ls, err := Bind(context.Background(), []string{"127.0.0.1:0", "unix:" + sock})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	if len(ls) != 2 || !strings.HasPrefix(ls[0].Addr, "127.0.0.1:") || ls[1].Addr != "unix:"+sock {
		t.Fatalf("want a TCP and a unix listener, got %+v", ls)
	}
	// The descriptors really listen: a client connects.
	c, err := net.Dial("tcp", ls[0].Addr)
	if err != nil {
		t.Fatalf("dial %s: %v", ls[0].Addr, err)
	}
	c.Close()

	// A port in use is a clear error, and nothing stays bound.
	_, err = Bind(context.Background(), []string{"127.0.0.1:0", ls[0].Addr})
	if err == nil || !strings.Contains(err.Error(), "listen on "+ls[0].Addr) || !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("want EADDRINUSE for %s, got %v", ls[0].Addr, err)
	}
}
