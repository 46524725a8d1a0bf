package main

// The harness's view of a running daemon's children and /proc entries.

import (
	"regexp"
	"strconv"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

var childPIDRE = regexp.MustCompile(`CHILD_PID=(\d+)`)

// nthChildPID waits for the n-th "child N started" debug line.
func (d *daemon) nthChildPID(n int) int {
	d.t.Helper()
	line := d.waitLogN("started for", n)
	m := childPIDRE.FindStringSubmatch(line)
	if m == nil {
		d.t.Fatalf("no CHILD_PID in %q", line)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// children lists the daemon's child processes, zombies included (none once
// the daemon is gone).
func (d *daemon) children() []int {
	kids, _ := procfs.Children(d.pid())
	return kids
}

// liveChildren counts the daemon's children (zombies included), checking
// each listed PID again so that a child that exited while the per-thread
// lists were read is not counted next to its successor.
func (d *daemon) liveChildren() (n, zombies int) {
	for _, p := range d.children() {
		s, err := procfs.Stat(p)
		if err != nil || s.PPID != d.pid() {
			continue
		}
		n++
		if s.State == 'Z' {
			zombies++
		}
	}
	return n, zombies
}

// alive reports whether pid is a process that has not exited.
func alive(pid int) bool {
	s, err := procfs.Stat(pid)
	return err == nil && s.State != 'Z'
}

// status returns a number of the daemon's /proc/PID/status (VmRSS in kB,
// Threads).
func (d *daemon) status(key string) int64 {
	d.t.Helper()
	v, err := procfs.StatusField(d.pid(), key)
	if err != nil {
		d.t.Fatalf("daemon: %v", err)
	}
	return v
}

// fds counts the daemon's open descriptors.
func (d *daemon) fds() int {
	d.t.Helper()
	n, err := procfs.FDCount(d.pid())
	if err != nil {
		d.t.Fatalf("daemon: %v", err)
	}
	return n
}

// cpuTicks is the daemon's user+system CPU time in clock ticks (1/100 s).
func (d *daemon) cpuTicks() int64 {
	d.t.Helper()
	n, err := procfs.CPUTicks(d.pid())
	if err != nil {
		d.t.Fatalf("daemon: %v", err)
	}
	return n
}

// childrenMem sums the children's RSS, PSS and private memory in kB (RSS
// counts the pages a fork child shares with its parent once per child; PSS
// divides them among the sharers). A child that exits meanwhile counts 0.
func (d *daemon) childrenMem() (rss, pss, private int64) {
	for _, p := range d.children() {
		if v, err := procfs.StatusField(p, "VmRSS"); err == nil {
			rss += v
		}
		if v, err := procfs.SmapsRollup(p, "Pss"); err == nil {
			pss += v
		}
		for _, k := range []string{"Private_Clean", "Private_Dirty"} {
			if v, err := procfs.SmapsRollup(p, k); err == nil {
				private += v
			}
		}
	}
	return rss, pss, private
}

// waitNoChildren polls until the daemon has no child, zombie or not.
func (d *daemon) waitNoChildren(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, z := d.liveChildren()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("want no children within %s, got %d (%d zombies)", timeout, n, z)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFDs polls until the daemon holds want descriptors, and returns the last count.
func (d *daemon) waitFDs(want int, timeout time.Duration) int {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := d.fds()
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
