package main

// The child strategies the tests run with, and the fork probe.

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// hellodArgs returns args for a daemon started with env. When the fork
// strategy cannot run in this build and neither args nor env choose a
// strategy, the daemon (in a test not about the strategy) runs exec
// children instead of the default fork ones.
func hellodArgs(env []string, args ...string) []string {
	for _, a := range args {
		if a == "--child" || strings.HasPrefix(a, "--child=") {
			return args
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "HELLOD_CHILD=") {
			return args
		}
	}
	if forkUnavailable() == nil {
		return args
	}
	return append([]string{"--child=exec"}, args...)
}

var forkProbe struct {
	once sync.Once
	err  error
}

// forkUnavailable says why fork children cannot run in this build (a
// coverage build, say), or nil if they can: once, it runs this binary as
// hellod --child fork on 127.0.0.1:0 and sends it a GET. The error is the
// daemon's first stderr line if it never listened, else what the GET got.
func forkUnavailable() error {
	forkProbe.once.Do(func() {
		cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0", "--child", "fork")
		cmd.Env = environ()
		stderr, err := cmd.StderrPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			forkProbe.err = fmt.Errorf("probe hellod --child fork: %w", err)
			return
		}
		lines := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			line := "" // the first line, or the listening one
			for !strings.Contains(line, "listening on ") && sc.Scan() {
				if line == "" || strings.Contains(sc.Text(), "listening on ") {
					line = sc.Text()
				}
			}
			lines <- cmp.Or(line, "hellod --child fork exited saying nothing")
			io.Copy(io.Discard, stderr)
			close(lines)
		}()
		defer func() {
			cmd.Process.Kill()
			for range lines { // until stderr is drained
			}
			cmd.Wait()
		}()
		var line string
		select {
		case line = <-lines:
		case <-time.After(60 * time.Second):
			forkProbe.err = errors.New("hellod --child fork: not listening within 60s")
			return
		}
		m := listenRE.FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, "listening on ") {
			forkProbe.err = errors.New(line)
			return
		}
		c, err := net.DialTimeout("tcp", m[1], 30*time.Second)
		if err != nil {
			forkProbe.err = fmt.Errorf("hellod --child fork: %w", err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		_, err = io.WriteString(c, getReq)
		b, rerr := io.ReadAll(c)
		if got := statusLine(string(b)); got != "HTTP/1.1 200 OK" {
			forkProbe.err = fmt.Errorf("hellod --child fork: want a 200, got %q (write: %v, read: %v)", got, err, rerr)
		}
	})
	return forkProbe.err
}

// strategies are the child strategies every behaviour test runs with.
var strategies = []string{"exec", "fork"}

// eachStrategy runs fn as a subtest per child strategy, with the --child
// flag to pass; the fork one is skipped where fork children cannot run.
func eachStrategy(t *testing.T, fn func(t *testing.T, child string)) {
	for _, s := range strategies {
		t.Run(s, func(t *testing.T) {
			if s == "fork" {
				if err := forkUnavailable(); err != nil {
					t.Skipf("fork strategy unavailable in this build: %v", err)
				}
			}
			fn(t, "--child="+s)
		})
	}
}
