package main

// Reliability, 6. faults the parent must survive: a task limit (a
// cgroup's pids.max, systemd's TasksMax=) below --max-children.

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/execchild"
	"github.com/hellod/hellod/internal/procfs"
)

// startIn runs hellod in cgroup cg from its first instruction (a shell
// moves itself in, then execs it), so that it reads its task limit there.
func startIn(t *testing.T, cg *testCgroup, args ...string) *daemon {
	t.Helper()
	args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, cg.dir + "/cgroup.procs", os.Args[0]},
		hellodArgs(nil, args...)...)...)
	cmd.Env = environ()
	d := startCmd(t, cmd)
	d.waitListening()
	return d
}

var exitLineRE = regexp.MustCompile(` served 127\.0\.0\.\d+:\d+: `)

var loweredRE = regexp.MustCompile(`--max-children 64 lowered to (\d+)`)

// Under pids.max 20 with --max-children 64, hellod caps its children to
// what the limit leaves after its own threads, serves every client, and
// when the limit is cut to what it uses already (no task free), holds its
// connections and retries as children exit, without a fatal error, with a
// bounded log, and serves them all once the limit is back.
func TestReliabilityParentTasks(t *testing.T) {
	noRaceExitSleep(t)
	raiseNofile(t, 500)
	eachStrategy(t, func(t *testing.T, strategy string) {
		const limit = 20
		cg := newCgroup(t, "pids")
		cg.set(t, "pids.max", "pids.max", strconv.Itoa(limit))
		d := startIn(t, cg, strategy, "--max-children", "64")
		m := loweredRE.FindStringSubmatch(d.waitLog("task limit: pids.max 20"))
		if m == nil {
			t.Fatalf("want --max-children lowered, got %q", d.logText())
		}
		capped, _ := strconv.Atoi(m[1])
		threads := d.status("Threads")
		n := scaled(300, 100)
		if strategy == "--child=exec" {
			n = scaled(100, 40)
		}
		r := load(d.addr, n, 32, 120*time.Second, "Hello, World!\n", false, nil)
		if got := r.tally[gotOK].Load(); got != int64(n) {
			t.Errorf("under pids.max %d: want %d x 200, got %s %q", limit, n, r.tally.String(), r.firstBad)
		}
		// No task free: the children's starts fail until it is raised.
		d.waitNoChildren(30 * time.Second)
		used, _ := strconv.Atoi(cg.read("pids.current"))
		cg.set(t, "pids.max", "pids.max", strconv.Itoa(used))
		res := make(chan *loadResult, 1)
		go func() { res <- load(d.addr, 64, 32, 120*time.Second, "Hello, World!\n", false, nil) }()
		d.waitLog("task limit reached")
		const starved = 2 * time.Second
		time.Sleep(starved) // clients wait meanwhile: the episode under test
		cg.set(t, "pids.max", "pids.max", strconv.Itoa(limit))
		r2 := <-res
		if got := r2.tally[gotOK].Load(); got != 64 {
			t.Errorf("after the limit was raised again: want 64 x 200, got %s %q", r2.tally.String(), r2.firstBad)
		}
		d.waitLog("children start again after")
		if !alive(d.pid()) {
			t.Fatalf("want hellod alive, it is gone: %v", d.err)
		}
		log := d.logText()
		for _, bad := range []string{"fatal error", "goroutine ", "newosproc", "cannot start a child"} {
			if strings.Contains(log, bad) {
				t.Errorf("want no %q in the log, got it", bad)
			}
		}
		episodes := strings.Count(log, "task limit reached")
		other := 0
		for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
			if !exitLineRE.MatchString(l) {
				other++
			}
		}
		if episodes > 5 || other > 20 {
			t.Errorf("want a bounded log: at most 5 task-limit lines and 20 lines besides the exit lines, got %d and %d:\n%s", episodes, other, log)
		}
		t.Logf("FIGURE parent/tasks/%s: cgroup=%s pids_max=%d max_children=64 capped_to=%d parent_threads=%d served=%d starved_s=%.0f starved_clients_served=%d task_limit_lines=%d non_exit_lines=%d fatal=0",
			strategy[8:], cg.version(), limit, capped, threads, r.tally[gotOK].Load(), starved.Seconds(), r2.tally[gotOK].Load(), episodes, other)
	})
}

// An exec child whose Go runtime cannot start (no task left for its
// threads) writes nothing (its stderr is /dev/null until its Main runs),
// where it would write a "fatal error: newosproc" and stacks; the parent
// logs its exit in one line (logline.go, status 2 before serving).
func TestReliabilityExecChildNoTasks(t *testing.T) {
	cg := newCgroup(t, "pids")
	cg.set(t, "pids.max", "pids.max", "1") // the shell, then the child's first thread: no sysmon
	run := func(stderrDirect bool) (code int, out string) {
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, cg.dir+"/cgroup.procs", os.Args[0], execchild.Arg, "0", "1")
		cmd.Env = environ()
		cmd.Stderr = null
		cmd.ExtraFiles = []*os.File{null, null, w} // fds 3, 4 and StderrFD
		if stderrDirect {                          // as before: the runtime writes to the parent's stderr
			cmd.Stderr = w
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		var b bytes.Buffer
		done := make(chan struct{})
		go func() { io.Copy(&b, r); close(done) }()
		err = cmd.Wait()
		<-done
		return exitCode(t, err), b.String()
	}
	before, beforeOut := run(true)
	// "fatal error: newosproc" (or, in a cgo build, "runtime/cgo:
	// pthread_create failed"), then the stacks.
	if !strings.Contains(beforeOut, "goroutine ") {
		t.Skipf("the child's runtime started under pids.max 1 (exit %d, %.200q): nothing to test", before, beforeOut)
	}
	code, out := run(false)
	if code != 2 || out != "" {
		t.Errorf("want exit status 2 and nothing written, got %d and %q", code, out)
	}
	t.Logf("FIGURE parent/exec-child-no-tasks: pids_max=1 exit_status=%d lines_written=%d lines_written_with_stderr_direct=%d (exit status %d)",
		code, strings.Count(out, "\n"), strings.Count(beforeOut, "\n"), before)
}

// An exec child serving a connection has at most execChildTasks tasks,
// the budget's figure (measured: 5 for hellod, 6 for this test binary).
func TestReliabilityExecChildTasks(t *testing.T) {
	d := start(t, nil, "--child=exec", "--log-level", "debug")
	c, err := stall(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	child := d.nthChildPID(1)
	most := int64(0)
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if n, err := procfs.StatusField(child, "Threads"); err == nil {
			most = max(most, n)
		}
	}
	if most == 0 || most > execChildTasks {
		t.Errorf("want an exec child of 1 to %d tasks, got %d", execChildTasks, most)
	}
	t.Logf("FIGURE parent/exec-child-tasks: tasks=%d budget=%d parent_threads=%d", most, execChildTasks, d.status("Threads"))
}
