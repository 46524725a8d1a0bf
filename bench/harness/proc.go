package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

// clkTck is USER_HZ, the unit of the times in /proc/PID/stat. It is 100 on
// every Linux architecture Go supports; the harness prints it with the facts.
const clkTck = 100

// treeCPU returns utime+stime+cutime+cstime of pid and of each of its live
// descendants, in seconds: the process's own CPU (all threads), that of every
// child it has reaped with wait (and, recursively, what those children
// reaped) and that of the children still running (nginx's and Apache's
// workers). The difference of two readings is the tree's CPU in between:
// a child alive at both counts its delta, one reaped in between its rest.
// Children reaped automatically because SIGCHLD is ignored are NOT
// included; see sigchldIgnored.
func treeCPU(pid int) (float64, error) {
	t, err := treeTicks(pid)
	return float64(t) / clkTck, err
}

func treeTicks(pid int) (int64, error) {
	s, err := procfs.Stat(pid)
	if err != nil {
		return 0, err
	}
	ticks := s.UTime + s.STime + s.CUTime + s.CSTime
	for _, k := range children(pid) {
		if t, err := treeTicks(k); err == nil { // a child gone meanwhile is in its parent's cutime next time
			ticks += t
		}
	}
	return ticks, nil
}

// sigchldIgnored reports whether pid ignores SIGCHLD, in which case its
// children are reaped by the kernel and their CPU never reaches cutime/cstime.
func sigchldIgnored(pid int) bool {
	v, err := procfs.StatusText(pid, "SigIgn")
	if err != nil {
		return false
	}
	mask, err := strconv.ParseUint(v, 16, 64)
	return err == nil && mask&(1<<(17-1)) != 0 // SIGCHLD = 17
}

// children lists the direct children of pid, over all its threads (none if
// pid is gone).
func children(pid int) []int {
	kids, _ := procfs.Children(pid)
	return kids
}

// fdCount is the number of open file descriptors of pid, or -1.
func fdCount(pid int) int {
	n, err := procfs.FDCount(pid)
	if err != nil {
		return -1
	}
	return n
}

// threadCount is the number of threads of pid, or -1.
func threadCount(pid int) int {
	n, err := procfs.StatusField(pid, "Threads")
	if err != nil {
		return -1
	}
	return int(n)
}

// listening reports whether some socket listens on 127.0.0.1:port, read from
// /proc/net/tcp so that checking makes no connection to the server.
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// waitNoChildren polls until pid has no children or the deadline passes; it
// returns how many were left.
func waitNoChildren(pid int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := len(children(pid))
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cgroup is a CPU-accounting cgroup that a server's process tree is put in,
// as a cross-check of treeCPU that also sees children reaped by the kernel
// or re-parented away. Nil when cgroups cannot be used here.
type cgroup struct {
	dir   string
	usage func() (float64, error) // seconds
}

// newCgroup creates a fresh cgroup named name under cgroup v1 cpuacct or,
// failing that, cgroup v2. It returns nil when neither is writable.
func newCgroup(name string) *cgroup {
	v1 := "/sys/fs/cgroup/cpuacct"
	if st, err := os.Stat(filepath.Join(v1, "cpuacct.usage")); err == nil && !st.IsDir() {
		dir := filepath.Join(v1, name)
		if os.Mkdir(dir, 0o755) == nil {
			return registerCgroup(&cgroup{dir: dir, usage: func() (float64, error) {
				b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
				if err != nil {
					return 0, err
				}
				ns, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
				return float64(ns) / 1e9, err
			}})
		}
	}
	v2 := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(v2, "cgroup.controllers")); err == nil {
		dir := filepath.Join(v2, name)
		if os.Mkdir(dir, 0o755) == nil {
			return registerCgroup(&cgroup{dir: dir, usage: func() (float64, error) {
				b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
				if err != nil {
					return 0, err
				}
				for _, line := range strings.Split(string(b), "\n") {
					if rest, ok := strings.CutPrefix(line, "usage_usec "); ok {
						us, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
						return float64(us) / 1e6, err
					}
				}
				return 0, errors.New("usage_usec not in cpu.stat")
			}})
		}
	}
	return nil
}

// liveCgroups holds the cgroups this harness made and has not removed, for
// killLive to remove after an interrupt.
var (
	liveCgMu    sync.Mutex
	liveCgroups = map[*cgroup]bool{}
)

func (c *cgroup) add(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// remove deletes the cgroup once it is empty (polling briefly).
func (c *cgroup) remove() {
	liveCgMu.Lock()
	delete(liveCgroups, c)
	liveCgMu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	for os.Remove(c.dir) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// machineBusy returns the CPU seconds all CPUs have spent in user, nice,
// system and steal time since boot, from the first line of /proc/stat. irq
// and softirq time is left out: loopback TCP is largely processed in
// softirq, charged to no process, so it belongs to the benchmark itself.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i >= 3 {
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	if len(f) > 8 { // steal
		n, _ := strconv.ParseUint(f[8], 10, 64)
		busy += n
	}
	return float64(busy) / clkTck
}

// selfCPU is this process's CPU seconds (the harness and its sampler).
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// tcpActiveOpens is the machine's count of TCP connections opened by connect
// (Tcp ActiveOpens in /proc/net/snmp). Its difference over a run, against
// the requests, tells whether the load kept its connections; it counts
// every connect on the machine, so other tenants' show in it too.
func tcpActiveOpens() (int64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	return snmpField(string(b), "Tcp", "ActiveOpens")
}

// snmpField reads one counter from /proc/net/snmp's text, where each
// protocol has a line of names and then a line of values.
func snmpField(snmp, proto, name string) (int64, error) {
	lines := strings.Split(snmp, "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != proto+":" || len(values) != len(names) || values[0] != proto+":" {
			continue
		}
		for j, n := range names {
			if n == name {
				return strconv.ParseInt(values[j], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s %s not in /proc/net/snmp", proto, name)
}

func registerCgroup(c *cgroup) *cgroup {
	liveCgMu.Lock()
	liveCgroups[c] = true
	liveCgMu.Unlock()
	return c
}

// removeLiveCgroups removes every cgroup still registered (after killLive
// killed their processes).
func removeLiveCgroups() {
	liveCgMu.Lock()
	cgs := make([]*cgroup, 0, len(liveCgroups))
	for c := range liveCgroups {
		cgs = append(cgs, c)
	}
	liveCgMu.Unlock()
	for _, c := range cgs {
		c.remove()
	}
}
