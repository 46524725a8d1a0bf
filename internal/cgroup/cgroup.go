// Package cgroup reads the task limit of the process's cgroup: the pids
// controller's pids.max, cgroup v2 (the unified hierarchy) or v1 (the
// pids controller's own hierarchy), where systemd puts a unit's TasksMax=
// (see cgroups(7) and the kernel's Documentation/admin-guide/cgroup-v2.rst
// "PID"). The limit that applies is the smallest of the cgroup's and its
// ancestors'.
package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Tasks is the task budget of a cgroup.
type Tasks struct {
	Max     int    // the effective pids.max: the smallest on the way to the root; 0: none
	Current int    // pids.current of Where: what counts against Max (-1 if unknown)
	Where   string // the directory whose pids.max is Max ("" without a limit)
}

// System are the files the package reads: /proc/self/cgroup and
// /proc/self/mountinfo, with paths in them under Root ("" is /); tests
// point them elsewhere.
type System struct {
	Cgroup, Mountinfo, Root string
}

// Self is this process's view.
var Self = System{Cgroup: "/proc/self/cgroup", Mountinfo: "/proc/self/mountinfo"}

// ErrNoPids: the pids controller is mounted nowhere this process can see.
var ErrNoPids = errors.New("no pids controller mounted")

// TaskLimit returns the task budget of the process's cgroup.
func (s System) TaskLimit() (Tasks, error) {
	dir, err := s.pidsDir()
	if err != nil {
		return Tasks{}, err
	}
	t := Tasks{Current: -1}
	for d := dir.path; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "pids.max"))
		if err == nil {
			v := strings.TrimSpace(string(b))
			if v != "max" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return Tasks{}, fmt.Errorf("%s: want a number or \"max\", got %q", filepath.Join(d, "pids.max"), v)
				}
				if t.Max == 0 || n < t.Max {
					t.Max, t.Where = n, d
				}
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return Tasks{}, fmt.Errorf("task limit: %w", err)
		}
		if len(d) <= len(dir.mount) {
			break
		}
	}
	if t.Where != "" {
		if b, err := os.ReadFile(filepath.Join(t.Where, "pids.current")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				t.Current = n
			}
		}
	}
	return t, nil
}

type pidsDir struct{ path, mount string }

// pidsDir finds the directory of this process's cgroup in the hierarchy
// holding the pids controller: v1's "pids" hierarchy if there is one
// (with hybrid mounts, v2's unified one carries no controller), else v2's.
func (s System) pidsDir() (pidsDir, error) {
	cg, err := os.ReadFile(s.Cgroup)
	if err != nil {
		return pidsDir{}, fmt.Errorf("task limit: %w", err)
	}
	mi, err := os.ReadFile(s.Mountinfo)
	if err != nil {
		return pidsDir{}, fmt.Errorf("task limit: %w", err)
	}
	var v1Path, v2Path string
	haveV1, haveV2 := false, false
	for _, line := range strings.Split(string(cg), "\n") {
		// hierarchy-ID:controller-list:path
		id, rest, ok := strings.Cut(line, ":")
		ctl, path, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			continue
		}
		switch {
		case id == "0" && ctl == "":
			v2Path, haveV2 = path, true
		case hasItem(ctl, "pids"):
			v1Path, haveV1 = path, true
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(mi))
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		root, mnt := unescape(f[3]), unescape(f[4])
		var path string
		switch {
		case haveV1 && g[0] == "cgroup" && hasItem(g[2], "pids"):
			path = v1Path
		case !haveV1 && haveV2 && g[0] == "cgroup2":
			path = v2Path
		default:
			continue
		}
		// The path is relative to the hierarchy's root; the mount shows
		// root (a container's own cgroup, say) at mnt.
		rel, err := filepath.Rel(root, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // our cgroup is outside what this mount shows
		}
		mount := filepath.Join(s.Root, mnt)
		return pidsDir{path: filepath.Join(mount, rel), mount: mount}, nil
	}
	return pidsDir{}, ErrNoPids
}

// hasItem reports whether the comma-separated list has item.
func hasItem(list, item string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == item {
			return true
		}
	}
	return false
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
