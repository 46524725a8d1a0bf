package main

// The daemon's life with its children: reaping, --max-children, timeouts,
// SIGTERM drain, shutdown, sd_notify and --idle-exit.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/execchild"
	"github.com/hellod/hellod/internal/procfs"
	"github.com/hellod/hellod/internal/respond"
)

func TestNoZombiesAfter1000Connections(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		n := 1000
		if testing.Short() {
			n = 200
		}
		d := start(t, nil, strategy)
		const workers = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		bad := map[string]int{}
		next := make(chan int)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					got := statusLine(exchange(t, d.addr, getReq))
					if got != "HTTP/1.1 200 OK" {
						mu.Lock()
						bad[got]++
						mu.Unlock()
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		if len(bad) != 0 {
			t.Errorf("want %d x 200, got these others: %v", n, bad)
		}
		d.waitLogN("(1x 200)", n)
		// Every child has been reaped: the daemon has no child left, zombie or not.
		d.waitNoChildren(20 * time.Second)
		if got := strings.Count(d.logText(), "EXIT_STATUS=0"); got != n {
			t.Errorf("want %d exits logged, got %d", n, got)
		}
	})
}

func TestMaxChildrenBackpressure(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--max-children", "2", "--evict-after", "0", "--header-timeout", "20s", "--child-timeout", "30s")
		idle1, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle1.Close()
		idle2, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle2.Close()
		d.waitLog("not accepting until one exits")
		// A third client connects (the kernel queues it) and sends its request.
		var queued []net.Conn
		for i := 0; i < 3; i++ {
			c, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatalf("want the connection queued, not refused: %v", err)
			}
			defer c.Close()
			io.WriteString(c, getReq)
			queued = append(queued, c)
		}
		if n := len(d.children()); n > 2 {
			t.Errorf("want at most 2 children at the cap, got %d", n)
		}
		// Finishing one idle client frees a slot; the third is served.
		io.WriteString(idle1, getReq)
		io.ReadAll(idle1)
		for i, c := range queued {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || statusLine(string(b)) != "HTTP/1.1 200 OK" {
				t.Fatalf("want queued client %d served once a slot freed, got %q, %v", i, b, err)
			}
		}
		// Three connections waited in one episode: it was logged once.
		first, _, _ := strings.Cut(d.logText(), "below --max-children again")
		if n := strings.Count(first, "not accepting until one exits"); n != 1 {
			t.Errorf("want the cap logged once for the episode, got %d", n)
		}
	})
}

func TestChildTimeoutKillsStoppedChild(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		// Timeouts with room for the exchange after the kill: an exec
		// child under qemu-user on a loaded machine took over 600 ms to
		// start.
		d := start(t, nil, strategy, "--log-level", "debug", "--header-timeout", "2s", "--child-timeout", "3s")
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pid := d.nthChildPID(1)
		// A stopped child cannot honour its own deadline: the parent kills it.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		exit := d.waitLog(fmt.Sprintf("child %d for %s killed by signal SIGKILL (sent by hellod: child timeout)", pid, c.LocalAddr()))
		if !strings.Contains(exit, "EXIT_STATUS=137") || !strings.Contains(exit, `REASON="child timeout"`) {
			t.Errorf("want EXIT_STATUS=137 and the reason, got %q", exit)
		}
		// The daemon goes on.
		if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
			t.Errorf("want a 200 after the kill, got %q", got)
		}
	})
}

// TestSIGTERMDrainsRunningChildren also checks, on the running child, what
// internal/forkchild's TestChildDescriptors, which runs no daemon, cannot see:
// the daemon has closed its copy of the connection, and an exec child's
// environment has none of the systemd variables the daemon was given.
func TestSIGTERMDrainsRunningChildren(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		notify, _ := notifySocket(t)
		d := start(t, []string{"NOTIFY_SOCKET=" + notify, "WATCHDOG_USEC=60000000"}, strategy, "--log-level", "debug")
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn := settledConn(t, d.nthChildPID(1), strategy == "--child=exec")
		parent, err := procfs.FDTargets(d.pid())
		if err != nil {
			t.Fatal(err)
		}
		for fd, target := range parent {
			if target == conn {
				t.Errorf("child's fd 3 (%s) is also the daemon's fd %d: want the daemon to have closed it", target, fd)
			}
		}
		d.signal(syscall.SIGTERM)
		d.waitLog("SIGTERM: stopping")
		// The running child still answers.
		io.WriteString(c, getReq)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(c)
		if statusLine(string(b)) != "HTTP/1.1 200 OK" {
			t.Errorf("want the in-flight request served during the drain, got %q", b)
		}
		if code := d.wait(30 * time.Second); code != 0 {
			t.Errorf("want exit status 0, got %d", code)
		}
	})
}

// settledConn waits until child pid holds its connection as fd 3 and
// nothing above it (an exec child: after its exec, whose environment it then
// checks, and the scoreboard as fd 4), and returns what fd 3 links to.
func settledConn(t *testing.T, pid int, execd bool) string {
	t.Helper()
	var conn string
	for deadline := time.Now().Add(20 * time.Second); ; {
		fds, err := procfs.FDTargets(pid)
		if err != nil {
			t.Fatalf("child %d: %v", pid, err)
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		conn = fds[respond.ConnFD]
		// An exec child also holds the scoreboard, above its connection.
		top := respond.ConnFD
		if execd {
			top = execchild.BoardFD
		}
		if len(fds) <= top+1 && strings.HasPrefix(conn, "socket:[") &&
			(!execd || bytes.Contains(cmdline, []byte("\x00"+execchild.Arg+"\x00")) &&
				strings.HasPrefix(fds[execchild.BoardFD], "/memfd:hellod-scoreboard")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want child %d to settle holding its connection as fd %d, got %v (cmdline %q)", pid, respond.ConnFD, fds, cmdline)
		}
		time.Sleep(5 * time.Millisecond) // polling /proc, not synchronising
	}
	if execd {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range bytes.Split(env, []byte{0}) {
			for _, bad := range []string{"LISTEN_", "NOTIFY_SOCKET=", "WATCHDOG_"} {
				if bytes.HasPrefix(v, []byte(bad)) {
					t.Errorf("child environment has %q", v)
				}
			}
		}
	}
	return conn
}

func TestShutdownTimeoutAndSecondSignal(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		d := start(t, nil, "--log-level", "debug", "--shutdown-timeout", "200ms")
		c, _ := net.Dial("tcp", d.addr)
		defer c.Close()
		d.nthChildPID(1)
		d.signal(syscall.SIGINT)
		if code := d.wait(30 * time.Second); code != 0 {
			t.Errorf("want exit status 0, got %d", code)
		}
		if !strings.Contains(d.logText(), "killed by signal SIGKILL (sent by hellod: shutdown timeout)") {
			t.Errorf("want the straggler killed at the shutdown timeout")
		}
	})
	t.Run("second signal", func(t *testing.T) {
		d := start(t, nil, "--log-level", "debug", "--shutdown-timeout", "1m")
		c, _ := net.Dial("tcp", d.addr)
		defer c.Close()
		pid := d.nthChildPID(1)
		d.signal(syscall.SIGTERM)
		d.waitLog("SIGTERM: stopping")
		d.signal(syscall.SIGTERM)
		if code := d.wait(30 * time.Second); code != 1 {
			t.Errorf("want exit status 1 after a second signal, got %d", code)
		}
		// Its child was killed, not left behind.
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("child %d still running after the daemon exited", pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// notifySocket creates a unixgram socket to stand in for systemd's.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hellod-notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func TestNotifyAndIdleExit(t *testing.T) {
	path, msgs := notifySocket(t)
	d := start(t, []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"}, "--idle-exit", "1500ms")
	if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
		t.Fatalf("want a 200, got %q", got)
	}
	if code := d.wait(30 * time.Second); code != 0 {
		t.Fatalf("want exit status 0 after --idle-exit, got %d", code)
	}
	var all []string
	timeout := time.After(5 * time.Second)
collect:
	for {
		select {
		case m := <-msgs:
			all = append(all, m)
			if strings.HasPrefix(m, "STOPPING=1") {
				break collect
			}
		case <-timeout:
			break collect
		}
	}
	joined := strings.Join(all, "\n")
	if len(all) == 0 || !strings.HasPrefix(all[0], "READY=1\nSTATUS=") {
		t.Errorf("want READY=1 with a status first, got %q", all)
	}
	if !strings.Contains(joined, "STATUS=0 children (0 busy, 0 idle), 1 requests served, 0 children killed") {
		t.Errorf("want a status line counting the served connection, got %q", all)
	}
	if !strings.Contains(joined, "WATCHDOG=1") {
		t.Errorf("want watchdog keep-alives, got %q", all)
	}
	if !strings.HasPrefix(all[len(all)-1], "STOPPING=1") {
		t.Errorf("want STOPPING=1 last, got %q", all)
	}
	if !strings.Contains(d.logText(), "(--idle-exit): exiting") {
		t.Errorf("want the idle exit logged")
	}
}
