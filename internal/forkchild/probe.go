package forkchild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// probeTimeout bounds the canary's answer.
const probeTimeout = 5 * time.Second

var probed struct {
	once sync.Once
	err  error
}

// Probe reports whether a fork child works in this build, computed once:
// it forks one canary child against a socketpair, sends it a GET and wants
// the exact 200 and exit code 0. Builds whose instrumentation writes
// package variables (go test -cover) kill that child, and so does
// anything else that breaks the CONTRACT in a way the child meets at once.
// The error is one line saying why, for hellod to exit with and tests to
// skip with.
//
// The canary is cloned with no exit signal, so that the daemon's reaper
// (wait4(-1, WNOHANG), which sees only children that signal SIGCHLD) never
// reaps it; Probe waits for it itself with __WCLONE.
func Probe() error { return probeOnce(nil) }

// probeOnce is Probe, forking the canary from f (NewFork's, so that start-up
// prepares and isolates the child memory once) or, with f nil, from a
// strategy of its own.
func probeOnce(f *Fork) error {
	probed.once.Do(func() {
		if err := probe(f); err != nil {
			probed.err = fmt.Errorf("fork strategy unavailable in this build (%w); use --child exec", err)
		}
	})
	return probed.err
}

func probe(f *Fork) error {
	if err := archSupported(); err != nil {
		return err
	}
	if f == nil {
		s := respond.Settings{Message: "probe\n", HeaderTimeout: probeTimeout, ChildTimeout: probeTimeout}
		var err error
		if f, err = newFork(s, nil); err != nil {
			return err
		}
		defer f.Close()
	}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	defer unix.Close(sp[0])
	pid, err := f.start(sp[1], nil, 0)
	waitFlags := unix.WCLONE
	if errors.Is(err, unix.EINVAL) {
		// qemu-user forks only with SIGCHLD for the exit signal (any other
		// is EINVAL): then a reaper's wait4(-1) may take the canary's
		// status first, and its answer alone counts.
		pid, err = f.start(sp[1], nil, uintptr(unix.SIGCHLD))
		waitFlags = 0
	}
	unix.Close(sp[1])
	if err != nil {
		return fmt.Errorf("start the canary child: %w", err)
	}
	got, readErr := exchangeProbe(sp[0])
	if readErr != nil {
		unix.Kill(pid, unix.SIGKILL)
	}
	var ws unix.WaitStatus
	waited := true
	for {
		_, err := unix.Wait4(pid, &ws, waitFlags, nil)
		if !errors.Is(err, unix.EINTR) {
			if errors.Is(err, unix.ECHILD) && waitFlags == 0 {
				waited = false
			} else if err != nil {
				return os.NewSyscallError("wait4", err)
			}
			break
		}
	}
	want := f.m.resp.Response(response.OKGet, response.Close)
	switch {
	case waited && ws.Signaled() && ws.Signal() == unix.SIGSEGV:
		return errors.New("the forked child died of SIGSEGV: coverage or other instrumentation writes package variables the child does not have")
	case waited && ws.Signaled():
		return fmt.Errorf("the forked child died of %s", unix.SignalName(ws.Signal()))
	case readErr != nil:
		return readErr
	case waited && ws.ExitStatus() != int(response.OKGet):
		return fmt.Errorf("the forked child exited %d, want %d", ws.ExitStatus(), response.OKGet)
	case !sameButDate(got, want):
		return fmt.Errorf("the forked child answered %q, want %q", got, want)
	}
	return nil
}

// sameButDate reports whether response got is want but for the Date's
// value, which a child rewrites when its second is not the parent's.
func sameButDate(got, want []byte) bool {
	const field = "\r\nDate: "
	i := bytes.Index(want, []byte(field))
	if i < 0 || len(got) != len(want) || i+len(field)+response.DateLen > len(want) {
		return bytes.Equal(got, want)
	}
	j := i + len(field) + response.DateLen
	return bytes.Equal(got[:i+len(field)], want[:i+len(field)]) && bytes.Equal(got[j:], want[j:])
}

// exchangeProbe sends the canary a GET on fd and reads its answer to the
// end, within probeTimeout.
func exchangeProbe(fd int) ([]byte, error) {
	tv := unix.NsecToTimeval(probeTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Sendto(fd, []byte("GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"), unix.MSG_NOSIGNAL, nil); err != nil {
		return nil, fmt.Errorf("write to the canary child: %w", err)
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return got, fmt.Errorf("the forked child did not answer within %s", probeTimeout)
		case err != nil:
			return got, fmt.Errorf("read from the canary child: %w", err)
		case n == 0:
			return got, nil
		}
		got = append(got, buf[:n]...)
	}
}
