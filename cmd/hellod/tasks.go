package main

// The task budget: a cgroup's pids.max (systemd's TasksMax=) counts every
// thread of hellod and every child, and a Go runtime that cannot create a
// thread dies ("fatal error: newosproc"). So hellod makes the threads it
// may need before children take the budget, and caps --max-children so
// that its children fit in what is left.

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/cgroup"
	"github.com/hellod/hellod/internal/procfs"
	"golang.org/x/sys/unix"
)

// Tasks per child: a fork child is one task; an exec child is a Go process
// (measured while it serves, GOMAXPROCS=1: 5 tasks for the hellod binary,
// the main thread, sysmon, the responder's thread and two the runtime
// starts; 6 for the test binary, TestReliabilityExecChildTasks), counted
// with one to spare.
const (
	forkChildTasks = 1
	execChildTasks = 7
)

// parentThreads is how many threads hellod makes at start, before any
// child, so that it never needs a new one once children use the budget:
// the Go runtime keeps idle threads for reuse and never exits them. What
// can hold a thread in the parent: the goroutine running Go code (one per
// GOMAXPROCS), sysmon, the template thread (made for LockOSThread, which a
// fork uses), and a goroutine blocked in a system call the runtime does
// not poll (a log write to a full journal pipe, the read of
// /proc/self/maps when a fork strategy marks its mappings, an exec child's
// vfork until it execs, the reaper's wait4). Eight of those at once is
// more than the parent has: measured, 7 threads idle and under load.
func parentThreads() int { return runtime.GOMAXPROCS(0) + 11 }

// taskBudget caps cfgMax (--max-children) to what the cgroup's pids.max
// leaves for children, after making hellod's own threads (warmThreads),
// and logs one line if it lowers it. perChild is the strategy's tasks per
// child. It returns the cap and the limit (zero Tasks without one).
func taskBudget(cfgMax, perChild int, log *slog.Logger) (int, cgroup.Tasks) {
	t, err := cgroup.Self.TaskLimit()
	if err != nil {
		if !errors.Is(err, cgroup.ErrNoPids) {
			log.Warn(fmt.Sprintf("cannot read the task limit (%v): --max-children %d is not checked against it", err, cfgMax))
		}
		return cfgMax, cgroup.Tasks{}
	}
	if t.Max == 0 {
		return cfgMax, t
	}
	own := threads()
	other := 0 // tasks of the cgroup that are not ours
	if t.Current > own {
		other = t.Current - own
	}
	// Keep room for one child at least while warming up.
	target := min(parentThreads(), t.Max-other-perChild)
	have := warmThreads(target)
	room := (t.Max - other - have) / perChild
	switch {
	case room >= cfgMax:
		return cfgMax, t
	case room < 1:
		log.Warn(fmt.Sprintf("task limit: pids.max %d of %s leaves no room for a child after hellod's %d threads and %d other tasks: --max-children %d lowered to 1; expect failed starts (raise TasksMax=)",
			t.Max, t.Where, have, other, cfgMax), "TASKS_MAX", t.Max, "MAX_CHILDREN", 1)
		return 1, t
	}
	log.Warn(fmt.Sprintf("task limit: pids.max %d of %s leaves room for %d children (%d tasks each) after hellod's %d threads and %d other tasks: --max-children %d lowered to %d",
		t.Max, t.Where, room, perChild, have, other, cfgMax, room), "TASKS_MAX", t.Max, "MAX_CHILDREN", room)
	return room, t
}

// threads is this process's thread count (/proc/self/status).
func threads() int {
	n, err := procfs.StatusField(os.Getpid(), "Threads")
	if err != nil {
		return runtime.GOMAXPROCS(0) + 4 // a guess: never fatal
	}
	return int(n)
}

// warmThreads makes the runtime create threads until the process has want
// (or 2 s pass): goroutines block in read(2) on a pipe, a system call the
// runtime hands its P off from, so each one holds a thread and the next
// runs on a new one; then they return and their threads stay, idle. It
// returns the thread count reached.
func warmThreads(want int) int {
	have := threads()
	if have >= want {
		return have
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return have
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	n := want - have
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			syscall.Read(p[0], b[:]) // blocking: holds its thread
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for have = threads(); have < want && time.Now().Before(deadline); have = threads() {
		time.Sleep(time.Millisecond) // a poll of the kernel's count
	}
	unix.Write(p[1], make([]byte, n))
	wg.Wait()
	return have
}

// budgetStarter starts exec children only when the cgroup has room for
// one (pids.current against pids.max), else fails with EAGAIN, which the
// server treats as backpressure: an exec child that the kernel lets fork
// but whose runtime then cannot make its threads dies before it serves,
// and its connection with it. The children started in the last settle
// may not have all their threads yet: what they still lack is reserved.
type budgetStarter struct {
	strategy
	max, perChild int
	current       string // pids.current's path

	mu     sync.Mutex
	recent [8]started // the latest starts
	next   int
}

type started struct {
	pid int
	at  time.Time
}

const settle = 50 * time.Millisecond

func (b *budgetStarter) Start(fd, slot int) (int, error) {
	if cur, err := readInt(b.current); err == nil {
		if free, reserved := b.max-cur, b.reserved(time.Now()); free-reserved < b.perChild {
			return 0, fmt.Errorf("start exec child: %d of pids.max %d tasks in use, %d reserved for children starting: %w",
				cur, b.max, reserved, unix.EAGAIN)
		}
	}
	pid, err := b.strategy.Start(fd, slot)
	if err == nil {
		b.mu.Lock()
		b.recent[b.next] = started{pid, time.Now()}
		b.next = (b.next + 1) % len(b.recent)
		b.mu.Unlock()
	}
	return pid, err
}

// reserved is what the children started in the last settle still lack
// of perChild tasks (a child gone lacks none).
func (b *budgetStarter) reserved(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.recent {
		if s.pid == 0 || now.Sub(s.at) >= settle {
			continue
		}
		st, err := procfs.Stat(s.pid)
		if err != nil || st.State == 'Z' {
			continue
		}
		has, err := procfs.StatusField(s.pid, "Threads")
		if err != nil {
			continue
		}
		n += max(0, b.perChild-int(has))
	}
	return n
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return strconv.Atoi(string(b))
}
