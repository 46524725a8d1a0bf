package forkchild

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// tortureCount is how many children TestForkTorture forks: the value of
// HELLOD_TORTURE if set (HELLOD_TORTURE=100000 is the long run), else a
// count that keeps the test well under a minute on two cores: about 600
// forks a second there, only 35-90 with -race (fork(2) must also copy the
// race detector's shadow mappings).
func tortureCount(t *testing.T) int {
	if v := os.Getenv("HELLOD_TORTURE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("HELLOD_TORTURE=%q: want a positive count", v)
		}
		return n
	}
	switch {
	case raceEnabled:
		return 1_000
	case testing.Short():
		return 5_000
	}
	return 10_000
}

// TestForkTorture forks many fork children from 16 goroutines at once,
// each on its own listener, while another goroutine allocates and forces
// garbage collections: every response must be complete and right, every
// child must exit with its outcome, and none may be left behind.
func TestForkTorture(t *testing.T) {
	requireFork(t)
	const workers = 16
	n := tortureCount(t)
	// Deadlines far beyond a response's time: the test is about
	// correctness, and under qemu-user on a loaded machine a child has
	// started reading more than 5 s after its fork.
	s := respond.Settings{Message: "torture\n", HeaderTimeout: 20 * time.Second, ChildTimeout: 40 * time.Second, Sandbox: sandboxed}
	const slots = 64
	f, err := NewFork(s, testBoard(t, slots))
	if err != nil {
		t.Fatal(err)
	}
	r := reaper.Start(func(err error) { t.Errorf("reaper: %v", err) })
	reaperStopped := false
	defer func() {
		if !reaperStopped {
			r.Stop()
		}
	}()

	reqs := []struct {
		req string
		o   response.Outcome
	}{
		{"GET / HTTP/1.1\r\nHost: t\r\n\r\n", response.OKGet},
		{"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", response.OKHead},
		{"GET / HTTP/1.1\r\n\r\n", response.BadRequest},
		{"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", response.MethodNotAllowed},
		{"GET http://[::1]:80/x?y HTTP/1.1\r\nHost: t\r\n\r\n", response.OKGet},
	}
	want := make([][]byte, len(reqs))
	for i, q := range reqs {
		want[i] = withoutDate(response.Append(nil, q.o, s.Message, time.Now()))
	}

	// The garbage maker: the parent forks while the GC runs, marks (with
	// write barriers on) and sweeps.
	stop := make(chan struct{})
	var gcs atomic.Int64
	var gcDone sync.WaitGroup
	gcDone.Add(1)
	go func() {
		defer gcDone.Done()
		var keep [256][]byte
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			keep[i%len(keep)] = make([]byte, 16<<10+i%4096)
			if i%2048 == 0 {
				runtime.GC()
				gcs.Add(1)
			}
		}
	}()

	var (
		next, failures atomic.Int64
		exits          sync.WaitGroup
		wrongExit      atomic.Int64
		firstErr       sync.Once
		clients        sync.WaitGroup
		emuStuck       sync.Map // pid -> describeProc: children an emulator deadlocked, killed
	)
	fail := func(format string, args ...any) {
		failures.Add(1)
		firstErr.Do(func() { t.Errorf(format, args...) })
	}
	deadline := time.Now().Add(10 * time.Minute)
	start := time.Now()
	for w := 0; w < workers; w++ {
		lfd, addr := listen(t)
		clients.Add(1)
		go func() {
			defer clients.Done()
			for failures.Load() == 0 && time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				q := i % len(reqs)
				c, fd, err := connect(lfd, addr, nil)
				if err != nil {
					fail("#%d: %v", i, err)
					return
				}
				pid, err := f.Start(fd, i%slots)
				linux.Close(fd)
				if err != nil {
					c.Close()
					fail("#%d: start: %v", i, err)
					return
				}
				exits.Add(1)
				r.Watch(pid, func(e reaper.Exit) {
					if _, stuck := emuStuck.Load(pid); stuck {
						exits.Done()
						return
					}
					if e.Code() != int(reqs[q].o) {
						wrongExit.Add(1)
						fail("#%d: child %d exited %d, want %d", i, pid, e.Code(), reqs[q].o)
					}
					exits.Done()
				})
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Write([]byte(reqs[q].req)); err != nil {
					fail("#%d: write: %v", i, err)
				}
				got, err := io.ReadAll(c)
				c.Close()
				if d, stuck := emulatorStuck(pid); err != nil && len(got) == 0 && stuck {
					emuStuck.Store(pid, d)
					unix.Kill(pid, unix.SIGKILL)
					continue
				}
				if err != nil || !bytes.Equal(withoutDate(got), want[q]) {
					fail("#%d: %q: want %q, got %q, %v", i, reqs[q].req, want[q], got, err)
				}
			}
		}()
	}
	clients.Wait()
	elapsed := time.Since(start)
	allExited := make(chan struct{})
	go func() { exits.Wait(); close(allExited) }()
	select {
	case <-allExited:
	case <-time.After(30 * time.Second):
		t.Fatalf("children still not reaped 30s after the last response: %s", liveChildren())
	}
	close(stop)
	gcDone.Wait()
	r.Stop()
	reaperStopped = true

	done := min(int(next.Load()), n)
	t.Logf("%d fork children from %d goroutines in %s (%.0f/s), %d forced GCs, %d failures",
		done, workers, elapsed.Round(time.Millisecond), float64(done)/elapsed.Seconds(), gcs.Load(), failures.Load())
	emuStuck.Range(func(pid, d any) bool {
		t.Logf("child %d: killed, no response after 30s: it waits in a futex(2), a call the fork child never makes, under an emulator: %s", pid, d)
		return true
	})
	if done < n && failures.Load() == 0 {
		t.Errorf("global deadline passed after %d of %d children", done, n)
	}
	// No zombie: nothing left to wait for, no child listed by any thread.
	if pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("wait4(-1, WNOHANG) = %d, %v; want ECHILD (no children left)", pid, err)
	}
	if left := liveChildren(); left != "" {
		t.Errorf("want no children left, got %s", left)
	}
}
