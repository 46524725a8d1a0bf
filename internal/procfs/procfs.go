// Package procfs reads the /proc/PID fields that hellod's tests and
// benchmarks watch (proc(5)).
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// path is /proc/PID/name.
func path(pid int, name string) string { return fmt.Sprintf("/proc/%d/%s", pid, name) }

// Value returns the text after "key:" in a "Key: value" file such as
// /proc/PID/status, /proc/PID/smaps_rollup or /proc/meminfo, trimmed.
func Value(b []byte, key string) (string, error) {
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		if k, v, ok := bytes.Cut(l, []byte{':'}); ok && string(k) == key {
			return string(bytes.TrimSpace(v)), nil
		}
	}
	return "", fmt.Errorf("no %s field", key)
}

// Number returns the number that starts the value of key in a "Key: value"
// file: a size in kB ("VmRSS:  1234 kB") or a count ("Threads:  5").
func Number(b []byte, key string) (int64, error) {
	v, err := Value(b, key)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: empty value", key)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}

// fileNumber is Number of key in the file at p.
func fileNumber(p, key string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	n, err := Number(b, key)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return n, nil
}

// StatusText returns the value of key in /proc/PID/status as written
// ("1234 kB", "0000000000010000", ...).
func StatusText(pid int, key string) (string, error) {
	p := path(pid, "status")
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	v, err := Value(b, key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return v, nil
}

// StatusField returns a number of /proc/PID/status: a size in kB (VmRSS,
// RssAnon, VmPTE) or a count (Threads).
func StatusField(pid int, key string) (int64, error) {
	return fileNumber(path(pid, "status"), key)
}

// SmapsRollup returns a field of /proc/PID/smaps_rollup in kB (Rss, Pss,
// Private_Clean, Private_Dirty, ...).
func SmapsRollup(pid int, key string) (int64, error) {
	return fileNumber(path(pid, "smaps_rollup"), key)
}

// MemInfo returns a field of /proc/meminfo in kB (MemTotal, ...).
func MemInfo(key string) (int64, error) {
	return fileNumber("/proc/meminfo", key)
}

// ProcStat holds the fields of /proc/PID/stat that the tests read; times are
// in clock ticks (USER_HZ, 100 on every Linux architecture Go supports).
type ProcStat struct {
	State                        byte // R, S, D, Z, T, ...
	PPID                         int
	UTime, STime, CUTime, CSTime int64
}

// ParseStat parses the text of /proc/PID/stat. The command name (field 2)
// may hold spaces and parentheses: fields are counted after the last ')'.
func ParseStat(b []byte) (ProcStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("stat %q: no ')' after the command name", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] ppid, f[11..14] utime stime cutime cstime.
	if len(f) < 15 || len(f[0]) != 1 {
		return ProcStat{}, fmt.Errorf("stat %q: want at least 17 fields", b)
	}
	s := ProcStat{State: f[0][0]}
	var err error
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return ProcStat{}, fmt.Errorf("stat ppid: %w", err)
	}
	for k, dst := range []*int64{&s.UTime, &s.STime, &s.CUTime, &s.CSTime} {
		if *dst, err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return ProcStat{}, fmt.Errorf("stat field %d: %w", 14+k, err)
		}
	}
	return s, nil
}

// Stat reads /proc/PID/stat.
func Stat(pid int) (ProcStat, error) {
	p := path(pid, "stat")
	b, err := os.ReadFile(p)
	if err != nil {
		return ProcStat{}, err
	}
	s, err := ParseStat(b)
	if err != nil {
		return ProcStat{}, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// CPUTicks is the process's own user+system CPU time, all threads, in clock
// ticks.
func CPUTicks(pid int) (int64, error) {
	s, err := Stat(pid)
	return s.UTime + s.STime, err
}

// FDCount is the number of the process's open descriptors.
func FDCount(pid int) (int, error) {
	ents, err := os.ReadDir(path(pid, "fd"))
	return len(ents), err
}

// FDTargets maps each of the process's open descriptors to what its
// /proc/PID/fd link names ("socket:[123]", "/dev/null", ...). A descriptor
// closed while the directory is read is left out.
func FDTargets(pid int) (map[int]string, error) {
	dir := path(pid, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[int]string, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			return nil, fmt.Errorf("%s: entry %q: %w", dir, e.Name(), err)
		}
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			m[n] = target
		}
	}
	return m, nil
}

// Children lists the process's children, zombies included, from the
// kernel's per-thread lists /proc/PID/task/TID/children. A thread that
// exits while they are read is skipped.
func Children(pid int) ([]int, error) {
	dir := path(pid, "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "children"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%s/%s/children: %w", dir, t.Name(), err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}
