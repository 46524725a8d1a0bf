package reaper

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests start children with syscall.ForkExec and nothing else in this
// test binary waits for children, as the package requires.

func start(t *testing.T, args ...string) int {
	t.Helper()
	pid, err := syscall.ForkExec("/bin/sh", append([]string{"sh", "-c"}, args...), &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func waitExit(t *testing.T, ch <-chan Exit) Exit {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("child not reaped within 10s")
	}
	return Exit{}
}

func TestReapsExitCodesAndSignals(t *testing.T) {
	r := Start(func(err error) { t.Errorf("reaper: %v", err) })
	defer r.Stop()
	for _, c := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 13", 13},
		{"kill -KILL $$", 128 + 9},
		{"kill -TERM $$", 128 + 15},
	} {
		ch := make(chan Exit, 1)
		pid := start(t, c.script)
		r.Watch(pid, func(e Exit) { ch <- e })
		e := waitExit(t, ch)
		if e.PID != pid || e.Code() != c.want {
			t.Errorf("%q: want pid %d status %d, got pid %d status %d", c.script, pid, c.want, e.PID, e.Code())
		}
	}
}

func TestWatchAfterExit(t *testing.T) {
	// A child that exits before Watch is called is still reported.
	r := Start(nil)
	defer r.Stop()
	pid := start(t, "exit 7")
	// Wait until the reaper has reaped it: /proc/PID disappears.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child not reaped within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	ch := make(chan Exit, 1)
	r.Watch(pid, func(e Exit) { ch <- e })
	if e := waitExit(t, ch); e.Code() != 7 {
		t.Errorf("want status 7, got %d", e.Code())
	}
}

func TestManyChildrenNoZombies(t *testing.T) {
	r := Start(nil)
	defer r.Stop()
	const n = 200
	ch := make(chan Exit, n)
	for i := 0; i < n; i++ {
		pid := start(t, "exit 0")
		r.Watch(pid, func(e Exit) { ch <- e })
	}
	for i := 0; i < n; i++ {
		waitExit(t, ch)
	}
	r.mu.Lock()
	left := len(r.watch)
	r.mu.Unlock()
	if left != 0 {
		t.Errorf("want no watched children left, got %d", left)
	}
	// wait4 says there is no child left at all: nothing unreaped.
	var ws unix.WaitStatus
	if _, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("want ECHILD (no children, no zombies), got %v", err)
	}
}

func TestSignal(t *testing.T) {
	r := Start(nil)
	defer r.Stop()
	ch := make(chan Exit, 1)
	pid := start(t, "exec sleep 60")
	r.Watch(pid, func(e Exit) { ch <- e })
	if err := r.Signal(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, ch); e.Code() != 137 {
		t.Errorf("want status 137, got %d", e.Code())
	}
	if err := r.Signal(pid, unix.SIGKILL); !errors.Is(err, ErrReaped) {
		t.Errorf("want ErrReaped for a reaped child, got %v", err)
	}
}
