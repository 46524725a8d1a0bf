package forkchild

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"unsafe"

	"github.com/hellod/hellod/internal/linux"
)

// mapping is one line of /proc/self/maps (see proc_pid_maps(5)).
type mapping struct {
	Start, End uintptr
	Perms      string // "rw-p" and the like
	Path       string // file, "[heap]", "[vdso]"..., or "" for anonymous memory
}

// writable reports whether the mapping may be written.
func (m mapping) writable() bool { return len(m.Perms) > 1 && m.Perms[1] == 'w' }

// special reports whether the kernel made the mapping ([vdso], [vvar],
// [vsyscall]...): madvise(2) does not apply to those.
func (m mapping) special() bool { return len(m.Path) > 2 && m.Path[:2] == "[v" }

// mappings reads this process's memory mappings from /proc/self/maps.
func mappings() ([]mapping, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	return parseMaps(b)
}

// parseMaps parses the text of a maps file (proc_pid_maps(5)).
func parseMaps(b []byte) ([]mapping, error) {
	var ms []mapping
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		m, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("/proc/self/maps line %d: %w", n, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// parseMapsLine parses "start-end perms offset dev inode [path]".
func parseMapsLine(line []byte) (mapping, error) {
	var f [5][]byte
	rest := line
	for i := range f {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	lo, hi, ok := bytes.Cut(f[0], []byte{'-'})
	if !ok || len(f[1]) != 4 || len(f[4]) == 0 {
		return mapping{}, fmt.Errorf("want start-end perms offset dev inode [path], got %q", line)
	}
	start, err1 := strconv.ParseUint(string(lo), 16, 64)
	end, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return mapping{}, fmt.Errorf("want a hexadecimal address range, got %q", f[0])
	}
	return mapping{
		Start: uintptr(start),
		End:   uintptr(end),
		Perms: string(f[1]),
		Path:  string(bytes.TrimLeft(rest, " ")),
	}, nil
}

// argStart is where this process's argument strings start (arg_start,
// field 48 of /proc/self/stat, see proc_pid_stat(5)): the mapping holding
// them (the main thread's [stack]) stays in children, so that their
// /proc/PID/cmdline, which ps and systemctl status show, is the parent's.
func argStart() (uintptr, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: field 3 (state) is the first.
	i := bytes.LastIndexByte(b, ')')
	fields := bytes.Fields(b[i+1:])
	const argStartField = 48
	if i >= 0 && len(fields) < argStartField-2 && len(os.Args) > 0 && os.Args[0] != "" {
		// No arg_start: qemu-user emulates this file with 44 fields. Then
		// os.Args[0]'s bytes, which are argv's (the runtime's goargs does
		// not copy them).
		return uintptr(unsafe.Pointer(unsafe.StringData(os.Args[0]))), nil
	}
	if i < 0 || len(fields) < argStartField-2 {
		return 0, fmt.Errorf("/proc/self/stat: want %d fields, got %q", argStartField, b)
	}
	v, err := strconv.ParseUint(string(fields[argStartField-3]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/stat arg_start: %w", err)
	}
	return uintptr(v), nil
}

// mems are the address ranges of every live mem of this process (one per
// Fork strategy) and the addresses whose mappings children must have
// (argStart, keepThread): isolate leaves them all alone.
var mems struct {
	sync.Mutex
	r    [][2]uintptr
	keep []uintptr
}

func registerMem(b []byte) {
	lo := uintptr(unsafe.Pointer(&b[0]))
	mems.Lock()
	mems.r = append(mems.r, [2]uintptr{lo, lo + uintptr(len(b))})
	mems.Unlock()
}

func unregisterMem(b []byte) {
	lo := uintptr(unsafe.Pointer(&b[0]))
	mems.Lock()
	defer mems.Unlock()
	for i, r := range mems.r {
		if r[0] == lo {
			mems.r = append(mems.r[:i], mems.r[i+1:]...)
			return
		}
	}
}

// keep adds a to the addresses whose mappings children must have.
func keep(a uintptr) {
	mems.Lock()
	defer mems.Unlock()
	for _, k := range mems.keep {
		if k == a {
			return
		}
	}
	mems.keep = append(mems.keep, a)
}

// isolate marks MADV_DONTFORK every mapping of this process that a fork
// child does not need, that is all but: every mem, the binary's text and
// read-only data (file-backed and not writable, which fork does not copy
// anyway), the kernel's [vdso] and the like, and the mappings that
// contain an address of mems.keep (marked MADV_DOFORK again, should an
// earlier call have marked them). The Go runtime maps new memory as the
// heap grows; those mappings are copied until the next call. A mapping
// madvise refuses is left as it is (it costs time, not safety).
func isolate() error {
	mems.Lock()
	defer mems.Unlock()
	ms, err := mappings()
	if err != nil {
		return fmt.Errorf("fork child memory: %w", err)
	}
next:
	for _, m := range ms {
		if m.special() || !m.writable() && m.Path != "" && m.Path[0] != '[' {
			continue
		}
		if m.containsAny(mems.keep) {
			// Kept now, it may have been marked before it was (the board
			// of a strategy made after another's isolate).
			linux.SetDontFork(m.Start, m.End, false)
			continue
		}
		for _, r := range mems.r {
			if m.Start < r[1] && r[0] < m.End {
				continue next
			}
		}
		linux.SetDontFork(m.Start, m.End, true)
	}
	return nil
}

func (m mapping) containsAny(addrs []uintptr) bool {
	for _, a := range addrs {
		if m.Start <= a && a < m.End {
			return true
		}
	}
	return false
}
