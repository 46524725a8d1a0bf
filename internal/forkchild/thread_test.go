package forkchild

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
	"github.com/hellod/hellod/internal/respond"
)

// switches sums the context switches of every thread of pid, and counts
// its threads.
func switches(t *testing.T, pid int) (n int64, threads int) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("want the threads of %d, got %v (%v)", pid, tasks, err)
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that exited
		}
		for _, k := range []string{"voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"} {
			v, err := procfs.Number(b, k)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			n += v
		}
	}
	return n, len(tasks)
}

// TestExecChildSleepsWhileItWaits: an exec child waiting for its client's
// request does not run. Its responder makes raw system calls, which the
// Go runtime cannot see; from a goroutine, sysmon would wake every 10 ms
// and signal it (about 100 context switches a second, and 300 waiting
// exec children took 80 % of a core). ServeOnThread runs the responder on
// a thread of its own while the goroutine sleeps in futex(2): then the
// whole process sleeps.
func TestExecChildSleepsWhileItWaits(t *testing.T) {
	requireFork(t) // ServeOnThread needs the clone entry the fork child has
	h := newHarness(t)
	st := newStrategy(t, "exec", respond.Settings{Message: "Hello, World!\n", HeaderTimeout: 30 * time.Second, ChildTimeout: 60 * time.Second, Sandbox: sandboxed})
	client, fd := dialAccept(t, h.lfd, h.addr, nil)
	defer client.Close()
	pid, code := h.start(st, fd)
	// Settled: exec'd, runtime started, responder thread waiting in read(2).
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, threads := switches(t, pid); threads >= 2 && procState(pid) == 'S' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d: want it asleep with its responder thread, got state %q", pid, procState(pid))
		}
		time.Sleep(5 * time.Millisecond) // polling /proc, not synchronising
	}
	// Quiet: the runtime's start-up is over (slow under qemu-user on a
	// loaded machine) and sysmon saw the idle P (20 us to 10 ms), i.e. a
	// 200 ms window with at most 2 switches. A child that sysmon keeps
	// waking (every 10 ms) never gets there.
	for deadline := time.Now().Add(20 * time.Second); ; {
		b, _ := switches(t, pid)
		time.Sleep(200 * time.Millisecond) // a measurement window, not a synchronisation
		a, threads := switches(t, pid)
		if a-b <= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec child %d (%d threads): want it quiet while its client sends nothing, got %d context switches in the last 200ms after 20s", pid, threads, a-b)
		}
	}
	const window = time.Second // the measurement window, not a synchronisation
	before, threads := switches(t, pid)
	time.Sleep(window)
	after, _ := switches(t, pid)
	if d := after - before; d > 20 {
		t.Errorf("exec child %d (%d threads): want it asleep while its client sends nothing (at most 20 context switches in %s), got %d", pid, threads, window, d)
	} else {
		t.Logf("exec child %d (%d threads): %d context switches in %s of waiting", pid, threads, d, window)
	}
	wantServedGET(t, client, code)
}
