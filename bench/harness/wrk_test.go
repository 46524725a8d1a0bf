package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

// Output of wrk 4.1.0 (Debian) with --latency, errors added as wrk prints them.
const wrkOutput = `Running 1s test @ http://127.0.0.1:18932/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   212.00us  357.58us   8.23ms   94.06%
    Req/Sec    35.24k    24.89k   69.58k    59.09%
  Latency Distribution
     50%  122.00us
     75%  239.00us
     90%  430.00us
     99%    1.67ms
  76984 requests in 1.10s, 9.62MB read
  Socket errors: connect 0, read 12, write 3, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  70011.74
Transfer/sec:      8.75MB
`

func TestParseWRK(t *testing.T) {
	var r abResult
	parseWRK(wrkOutput, &r)
	want := abResult{Complete: 76984, Failed: 16, FailDetail: "(connect 0, read 12, write 3, timeout 1)",
		Non2xx: 7, RPS: 70011.74, P50: 0.122, P99: 1.67}
	if r != want {
		t.Errorf("parseWRK:\n got %+v\nwant %+v", r, want)
	}
	// A clean run prints neither the socket errors nor the non-2xx line.
	var clean abResult
	parseWRK(strings.ReplaceAll(strings.ReplaceAll(wrkOutput, "  Socket errors: connect 0, read 12, write 3, timeout 1\n", ""),
		"  Non-2xx or 3xx responses: 7\n", ""), &clean)
	if clean.Failed != 0 || clean.Non2xx != 0 || clean.Complete != 76984 {
		t.Errorf("parseWRK clean: want 0 errors, 0 non-2xx, 76984 requests, got %+v", clean)
	}
	var none abResult
	parseWRK("unable to connect to 127.0.0.1:1 Connection refused\n", &none)
	if none.RPS != 0 || none.P50 != -1 || none.P99 != -1 {
		t.Errorf("parseWRK(no report): want RPS 0, percentiles -1, got %+v", none)
	}
}

func TestWRKArgs(t *testing.T) {
	got := strings.Join(wrkArgs(2, 16, 5, "close", "http://127.0.0.1:1/"), " ")
	want := "timeout -k 5 25 wrk -t 2 -c 16 -d 5s --latency -H Connection: close http://127.0.0.1:1/"
	if got != want {
		t.Errorf("wrkArgs close:\n got %q\nwant %q", got, want)
	}
	got = strings.Join(wrkArgs(4, 1, 3, "keep-alive", "http://127.0.0.1:1/"), " ")
	want = "timeout -k 5 23 wrk -t 1 -c 1 -d 3s --latency http://127.0.0.1:1/"
	if got != want {
		t.Errorf("wrkArgs keep-alive, threads capped at connections:\n got %q\nwant %q", got, want)
	}
}

func TestSNMPField(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin ActiveOpens PassiveOpens\nTcp: 1 200 4711 12\n"
	if v, err := snmpField(snmp, "Tcp", "ActiveOpens"); err != nil || v != 4711 {
		t.Errorf("snmpField(Tcp ActiveOpens): want 4711, nil, got %d, %v", v, err)
	}
	if _, err := snmpField(snmp, "Udp", "InDatagrams"); err == nil {
		t.Error("snmpField(Udp InDatagrams): want an error, got nil")
	}
	if _, err := tcpActiveOpens(); err != nil {
		t.Errorf("tcpActiveOpens on this machine: %v", err)
	}
}

// TestTreeCPUCountsLiveChildren: a child that burns CPU and is still running
// shows in its parent's tree CPU (nginx's and Apache's workers are).
func TestTreeCPUCountsLiveChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 30' & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, to stop both shells by its ID
	if err := cmd.Start(); err != nil {
		t.Skip("no sh:", err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := procfs.Stat(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		own := s.UTime + s.STime + s.CUTime + s.CSTime
		tree, err := treeTicks(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if tree-own >= 5 { // 50 ms of the live child's CPU
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want the live child's CPU (>= 5 ticks) in treeTicks, got tree %d, own %d", tree, own)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCforkKeepAlive builds bench/cfork and checks its -k mode on one
// connection: pipelined requests answered in order with Content-Length, the
// connection kept until a request says close; HTTP/1.0 closes unless it asks
// for keep-alive.
func TestCforkKeepAlive(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	bin := filepath.Join(t.TempDir(), "cfork")
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, "../cfork/cfork.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "-k", fmt.Sprintf("127.0.0.1:%d", port))
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); !listening(port); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("cfork -k did not listen on port %d within 5 s", port)
		}
	}
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	for _, c := range []struct {
		name, send string
		want       int    // responses before the server closes
		last       string // the last response's Connection header, "" none
	}{
		{"pipelined, then close", get + get + get + "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n" + get, 4, "close"},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n" + get, 1, "close"},
		{"HTTP/1.0 keep-alive, then 1.1 close", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n", 2, "close"},
		{"a body closes", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi" + get, 1, "close"},
	} {
		got, last, err := exchange(port, c.send)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want || last != c.last {
			t.Errorf("%s: want %d responses, the last with Connection %q; got %d, %q", c.name, c.want, c.last, got, last)
		}
	}
	// Kept open: two requests, two responses, then the connection still answers.
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i := 0; i < 3; i++ {
		if _, err := io.WriteString(conn, get); err != nil {
			t.Fatalf("request %d on a kept connection: %v", i+1, err)
		}
		if _, conn, err := readResponse(br); err != nil || conn != "" {
			t.Fatalf("response %d on a kept connection: want a 200 without Connection, got Connection %q, %v", i+1, conn, err)
		}
	}
}

// exchange sends send on a new connection and counts the responses until the
// server closes; last is the last one's Connection header.
func exchange(port int, send string) (n int, last string, err error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, send); err != nil {
		return 0, "", err
	}
	br := bufio.NewReader(c)
	for {
		_, conn, err := readResponse(br)
		if err == io.EOF {
			return n, last, nil
		}
		if err != nil {
			return n, last, fmt.Errorf("response %d: %w", n+1, err)
		}
		n, last = n+1, conn
	}
}

// readResponse reads one 200 with a Content-Length body and returns the
// body and the Connection header; io.EOF when the connection ended first.
func readResponse(br *bufio.Reader) (body, conn string, err error) {
	status, err := br.ReadString('\n')
	if err != nil {
		if status == "" {
			return "", "", io.EOF
		}
		return "", "", err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 OK\r\n") {
		return "", "", fmt.Errorf("want status HTTP/1.1 200 OK, got %q", status)
	}
	length := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		if line == "\r\n" {
			break
		}
		name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		switch strings.ToLower(name) {
		case "content-length":
			_, _ = fmt.Sscan(value, &length)
		case "connection":
			conn = strings.TrimSpace(value)
		}
	}
	if length < 0 {
		return "", "", fmt.Errorf("no Content-Length")
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", "", err
	}
	if string(b) != "Hello, World!\n" {
		return "", "", fmt.Errorf("want body %q, got %q", "Hello, World!\n", b)
	}
	return string(b), conn, nil
}

// TestBaselines starts nginx and Apache with the generated configurations,
// where they are installed, and checks that each answers one GET with the
// body and stops by its PID (Apache's shutdown signals its process group:
// not this test's).
func TestBaselines(t *testing.T) {
	dir := t.TempDir()
	// Apache's children (www-data when root) must reach the document root.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	cfg := &config{workDir: dir}
	if err := writeWWW(dir); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*serverDef{nginxDef(cfg), apacheDef(cfg)} {
		if d.Missing != "" {
			t.Logf("%s: %s: not checked", d.Name, d.Missing)
			continue
		}
		srv, err := start(d, logDir, true)
		if err != nil {
			t.Errorf("%s: %v", d.Name, err)
			continue
		}
		if srv.cg != nil { // root: every worker must be in the server's cgroup
			// Workers first, then the cgroup: a worker forked in between
			// (Apache starts more as it goes) is in the cgroup from its
			// fork on, and one that exited in between is no longer a child.
			kids := children(srv.pid)
			procs, _ := os.ReadFile(filepath.Join(srv.cg.dir, "cgroup.procs"))
			in := strings.Fields(string(procs))
			for _, k := range kids {
				if !slices.Contains(in, strconv.Itoa(k)) && slices.Contains(children(srv.pid), k) {
					t.Errorf("%s: worker %d not in the cgroup %s (it holds %v)", d.Name, k, srv.cg.dir, in)
				}
			}
			if len(kids) == 0 {
				t.Errorf("%s: want workers, got no child of %d", d.Name, srv.pid)
			}
		}
		status, body, err := probe(srv.port)
		srv.stop()
		if err != nil || !strings.Contains(status, " 200 ") || body != "Hello, World!\n" {
			t.Errorf("%s: want 200 and %q, got %q, %q, %v (log: %s)", d.Name, "Hello, World!\n", status, body, err, tail(srv.logPath, 5))
		}
		if srv.alive() {
			t.Errorf("%s: still running after stop", d.Name)
		}
	}
}
