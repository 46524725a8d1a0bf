package main

// A cgroup the tests create, put a daemon in and limit: cgroup v2 where
// /sys/fs/cgroup is the unified hierarchy with the controller enabled,
// else the v1 controller's own hierarchy (/sys/fs/cgroup/CONTROLLER).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// testCgroup is a cgroup made for one test, removed at its end.
type testCgroup struct {
	dir string
	v2  bool
}

// newCgroup makes a cgroup with controller (memory, pids) named after the
// test's helper and PID, or skips saying why it cannot.
func newCgroup(t *testing.T, controller string) *testCgroup {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a cgroup needs root (CI runs this as root)")
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &fs); err != nil {
		t.Skipf("no cgroup file system at %s: %v", cgroupRoot, err)
	}
	cg := &testCgroup{v2: fs.Type == unix.CGROUP2_SUPER_MAGIC}
	parent := filepath.Join(cgroupRoot, controller)
	if cg.v2 {
		parent = cgroupRoot
		ctl, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
		if err != nil || !strings.Contains(" "+string(ctl)+" ", " "+controller+" ") {
			t.Skipf("cgroup v2 without the %s controller (cgroup.controllers: %q, %v)", controller, ctl, err)
		}
		// The root cgroup may delegate controllers whatever its processes.
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+controller), 0); err != nil {
			t.Skipf("cannot enable the %s controller for child cgroups: %v", controller, err)
		}
	} else if _, err := os.Stat(filepath.Join(parent, "cgroup.procs")); err != nil {
		t.Skipf("no cgroup v1 %s hierarchy: %v", controller, err)
	}
	cg.dir = filepath.Join(parent, fmt.Sprintf("hellod-faults-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		t.Fatalf("make cgroup: %v", err)
	}
	t.Cleanup(func() {
		// Its processes are gone by now (the daemon's cleanup ran first),
		// or going: rmdir succeeds once the last one is reaped.
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := os.Remove(cg.dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("remove cgroup %s: %v (processes: %q)", cg.dir, err, cg.read("cgroup.procs"))
				return
			}
			time.Sleep(50 * time.Millisecond) // a poll for the last exit
		}
	})
	return cg
}

// set writes value to the cgroup's file name (v1 name, v2 name: pass the
// one for this version; "" skips it).
func (cg *testCgroup) set(t *testing.T, v1, v2, value string) {
	t.Helper()
	name := v1
	if cg.v2 {
		name = v2
	}
	if name == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(cg.dir, name), []byte(value), 0); err != nil {
		t.Fatalf("cgroup %s: %v", name, err)
	}
}

// read returns the cgroup's file name, trimmed ("" if it cannot be read).
func (cg *testCgroup) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(cg.dir, name))
	return strings.TrimSpace(string(b))
}

// stat returns the value of key in a "key value" file such as
// memory.events or memory.oom_control (-1 if absent).
func (cg *testCgroup) stat(name, key string) int64 {
	for _, line := range strings.Split(cg.read(name), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// add moves process pid (all its threads) into the cgroup.
func (cg *testCgroup) add(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("move %d into cgroup %s: %v", pid, cg.dir, err)
	}
}

// version is "v1" or "v2", for figures.
func (cg *testCgroup) version() string {
	if cg.v2 {
		return "v2"
	}
	return "v1"
}
