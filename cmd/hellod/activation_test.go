package main

// Socket activation (passed listeners, bad ones, systemd-socket-activate)
// and the command line.

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSocketActivationEveryListener(t *testing.T) {
	tcp4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp4.Close()
	sock := filepath.Join(t.TempDir(), "hellod.sock")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	f4, _ := tcp4.(*net.TCPListener).File()
	fu, _ := ux.(*net.UnixListener).File()
	files := []*os.File{f4, fu}
	names := "web:local"
	tcp6, err := net.Listen("tcp6", "[::1]:0")
	if err == nil {
		defer tcp6.Close()
		f6, _ := tcp6.(*net.TCPListener).File()
		files = append(files, f6)
		names += ":web6"
	} else {
		t.Logf("no IPv6 loopback here (%v): IPv6 not covered", err)
	}
	d := activate(t, files, names, "")
	line := d.waitLog("listening on ")
	if !strings.Contains(line, "socket-activated") || !strings.Contains(line, "web ("+tcp4.Addr().String()+")") ||
		!strings.Contains(line, "local (unix:"+sock+")") {
		t.Errorf("want the first line to say socket-activated and name every socket, got %q", line)
	}
	for _, f := range files {
		f.Close()
	}
	if got := statusLine(exchange(t, tcp4.Addr().String(), getReq)); got != "HTTP/1.1 200 OK" {
		t.Errorf("tcp4: want a 200, got %q", got)
	}
	if tcp6 != nil {
		if got := statusLine(exchange(t, tcp6.Addr().String(), getReq)); got != "HTTP/1.1 200 OK" {
			t.Errorf("tcp6: want a 200, got %q", got)
		}
	}
	uc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	io.WriteString(uc, getReq)
	b, _ := io.ReadAll(uc)
	if statusLine(string(b)) != "HTTP/1.1 200 OK" {
		t.Errorf("unix: want a 200, got %q", b)
	}
	// After the daemon exits, the passed sockets still listen (they are
	// systemd's): a connection made now waits for the next start.
	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != 0 {
		t.Errorf("want exit status 0, got %d", code)
	}
	late, err := net.Dial("tcp", tcp4.Addr().String())
	if err != nil {
		t.Fatalf("want the socket still listening after the daemon exited: %v", err)
	}
	late.Close()
}

func TestBadActivation(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	fudp, _ := udp.(*net.UDPConn).File()
	regular, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	tcp, _ := net.Listen("tcp", "127.0.0.1:0")
	defer tcp.Close()
	ftcp, _ := tcp.(*net.TCPListener).File()
	for _, c := range []struct {
		name  string
		files []*os.File
		names string
		pid   string
		want  string
	}{
		{"udp", []*os.File{fudp}, "dgram", "", "passed fd 3 (dgram): not a stream socket (AF_INET SOCK_DGRAM)"},
		{"regular file", []*os.File{regular}, "", "", "passed fd 3 (LISTEN_FD_3): not a socket"},
		{"second of two", []*os.File{ftcp, regular}, "ok:bad", "", "passed fd 4 (bad): not a socket"},
		{"other pid", []*os.File{ftcp}, "", "1", "LISTEN_PID=1 is not this process"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := activate(t, c.files, c.names, c.pid)
			if code := d.wait(30 * time.Second); code != 1 {
				t.Errorf("want exit status 1, got %d", code)
			}
			log := strings.TrimSpace(d.logText())
			if !strings.Contains(log, c.want) || strings.Count(log, "\n") != 0 {
				t.Errorf("want one error line containing %q, got %q", c.want, log)
			}
			if strings.Contains(log, "panic") || strings.Contains(log, "goroutine ") {
				t.Errorf("want no panic, got %q", log)
			}
		})
	}
}

func TestSystemdSocketActivate(t *testing.T) {
	ssa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	// Find a free port; systemd-socket-activate binds it itself.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(ssa, append([]string{"-l", addr, "--fdname=hellod", "-E", daemonEnv + "=1", os.Args[0]}, hellodArgs(nil)...)...)
	cmd.Env = environ()
	d := startCmd(t, cmd)
	// Nothing runs until the first connection arrives.
	deadline := time.Now().Add(10 * time.Second)
	var resp string
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.SetDeadline(time.Now().Add(30 * time.Second))
			io.WriteString(c, getReq)
			b, _ := io.ReadAll(c)
			c.Close()
			resp = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate never listened on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if statusLine(resp) != "HTTP/1.1 200 OK" || !strings.HasSuffix(resp, "Hello, World!\n") {
		t.Errorf("want 200 Hello, World!, got %q", resp)
	}
	line := d.waitLog("listening on ")
	if !strings.Contains(line, "socket-activated") || !strings.Contains(line, "hellod ("+addr+")") {
		t.Errorf("want socket-activated on hellod (%s), got %q", addr, line)
	}
	d.waitLog("(1x 200)")
	d.signal(syscall.SIGTERM)
	d.wait(30 * time.Second)
}

func TestCommandLine(t *testing.T) {
	used, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	for _, c := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string // substring
		stderr string // substring of the one stderr line
	}{
		{"help", []string{"--help"}, nil, 0, "Usage: hellod [flags]", ""},
		{"version", []string{"--version"}, nil, 0, "hellod ", ""},
		{"bad flag", []string{"--nope"}, nil, 2, "", "hellod: unknown flag --nope (see hellod --help)"},
		{"bad value", []string{"--max-children", "lots"}, nil, 2, "", `invalid value "lots" for --max-children`},
		{"bad env", nil, []string{"HELLOD_CHILD_TIMEOUT=forever"}, 2, "", `invalid value "forever" for HELLOD_CHILD_TIMEOUT`},
		{"argument", []string{"serve"}, nil, 2, "", `unexpected argument "serve"`},
		{"port in use", []string{"--listen", used.Addr().String()}, nil, 1, "", "address already in use"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runOnce(t, c.env, nil, c.args...)
			if code != c.code {
				t.Errorf("want exit status %d, got %d (stderr %q)", c.code, code, stderr)
			}
			if !strings.Contains(stdout, c.stdout) {
				t.Errorf("want %q on stdout, got %q", c.stdout, stdout)
			}
			if c.stderr != "" {
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if !strings.Contains(stderr, c.stderr) {
					t.Errorf("want %q on stderr, got %q", c.stderr, stderr)
				}
				if c.code == 2 && len(lines) != 1 {
					t.Errorf("want a one-line usage error, got %q", stderr)
				}
				if strings.Contains(stderr, "goroutine ") {
					t.Errorf("want no stack trace, got %q", stderr)
				}
			}
		})
	}
}
