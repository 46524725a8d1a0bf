package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverDef is one row of the benchmark: how to start a server on an address.
type serverDef struct {
	Name string
	Desc string
	Argv func(addr string) []string
	// Setup, when set, runs before each start with the address the server
	// will listen on (it writes nginx's and Apache's configuration).
	Setup func(addr string) error
	Env   []string // added to the harness's environment
	// Workers: the server keeps worker processes for its whole life (nginx,
	// Apache prefork), so a run does not wait for its children to go.
	Workers bool
	// Missing is set (before or during the run) when the row cannot be
	// measured; it says why.
	Missing string
}

// running is a started server.
type running struct {
	def     *serverDef
	cmd     *exec.Cmd
	pid     int
	port    int
	logPath string
	exited  chan struct{}
	waitErr error
	cg      *cgroup
}

// live holds the PIDs this harness started, so that an interrupt stops them
// (by PID, never by name).
var (
	liveMu sync.Mutex
	live   = map[int]bool{}
)

func register(pid int)   { liveMu.Lock(); live[pid] = true; liveMu.Unlock() }
func unregister(pid int) { liveMu.Lock(); delete(live, pid); liveMu.Unlock() }

// killLive sends SIGTERM, then SIGKILL, to every process still registered.
func killLive() {
	liveMu.Lock()
	pids := make([]int, 0, len(live))
	for p := range live {
		pids = append(pids, p)
	}
	liveMu.Unlock()
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	removeLiveCgroups()
}

// freePort asks the kernel for a free loopback port. The port is released
// before the server binds it; the window is tiny and a clash shows up as a
// server that fails to start.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var cgSeq int

// start starts def on a fresh port and waits (polling, 5 s deadline) until
// it listens. It fails if the server exits or does not listen in time.
func start(def *serverDef, logDir string, useCgroup bool) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if def.Setup != nil {
		if err := def.Setup(addr); err != nil {
			return nil, fmt.Errorf("%s: setup: %w", def.Name, err)
		}
	}
	argv := def.Argv(addr)
	cgSeq++
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", def.Name, cgSeq))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	var cg *cgroup
	if useCgroup {
		cg = newCgroup(fmt.Sprintf("hellod-bench-%d-%d", os.Getpid(), cgSeq))
	}
	if cg != nil && def.Workers {
		// nginx and Apache fork their workers within milliseconds of
		// starting, before the harness could move the master: a shell
		// joins the cgroup and then execs the server (same PID).
		argv = append([]string{"/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(cg.dir, "cgroup.procs")}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), def.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Stop the server if the harness dies without cleaning up. A server
	// with workers gets a process group of its own: Apache prefork's
	// shutdown signals its whole group, which would otherwise be ours.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: def.Workers}
	if err := cmd.Start(); err != nil {
		if cg != nil {
			cg.remove()
		}
		return nil, err
	}
	r := &running{def: def, cmd: cmd, pid: cmd.Process.Pid, port: port, logPath: logPath, exited: make(chan struct{})}
	register(r.pid)
	go func() { r.waitErr = cmd.Wait(); close(r.exited) }()
	switch {
	case cg != nil && def.Workers:
		r.cg = cg
	case cg != nil && cg.add(r.pid) == nil:
		r.cg = cg
	case cg != nil:
		cg.remove()
	}
	deadline := time.Now().Add(5 * time.Second)
	for !listening(port) {
		select {
		case <-r.exited:
			unregister(r.pid)
			r.cleanupCgroup()
			err := fmt.Errorf("%s exited before listening (%v): %s", strings.Join(argv, " "), r.waitErr, tail(logPath, 3))
			_ = os.Remove(logPath) // its last lines are in err
			return nil, err
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("%s did not listen on %s within 5 s: %s", strings.Join(argv, " "), addr, tail(logPath, 3))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r, nil
}

func (r *running) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// stop ends the server by its PID: SIGTERM, then SIGKILL after 5 s.
func (r *running) stop() {
	if r.alive() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	}
	unregister(r.pid)
	r.cleanupCgroup()
}

func (r *running) cleanupCgroup() {
	if r.cg != nil {
		r.cg.remove()
		r.cg = nil
	}
}

const probeRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

// probe sends one GET and returns the status line and body, to check that
// the server answers correctly before it is measured.
func probe(port int) (status string, body string, err error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, probeRequest); err != nil {
		return "", "", err
	}
	var sb strings.Builder
	buf := make([]byte, 4096)
	for sb.Len() < 1<<16 {
		n, err := c.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp := sb.String()
	head, b, ok := strings.Cut(resp, "\r\n\r\n")
	if !ok {
		return "", "", errors.New("no complete response: " + fmt.Sprintf("%q", resp))
	}
	status, _, _ = strings.Cut(head, "\r\n")
	return status, b, nil
}

// tail returns the last n lines of a file, joined by " | ".
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, " | ")
}

// logScan counts a server log's lines and those that look like warnings or
// errors, and keeps the first few of the latter.
func logScan(path string) (lines, bad int, samples []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines++
		l := strings.ToLower(sc.Text())
		if strings.Contains(l, "level=warn") || strings.Contains(l, "level=error") ||
			strings.Contains(l, `"level":"warn`) || strings.Contains(l, `"level":"error`) ||
			strings.Contains(l, "panic") || strings.Contains(l, "fatal") {
			bad++
			if len(samples) < 3 {
				samples = append(samples, sc.Text())
			}
		}
	}
	return lines, bad, samples
}
