package linux

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Mapping is one line of /proc/self/maps (see proc_pid_maps(5)).
type Mapping struct {
	Start, End uintptr
	Perms      string // "rw-p" and the like
	Path       string // file, "[heap]", "[vdso]"..., or "" for anonymous memory
}

// Writable reports whether the mapping may be written.
func (m Mapping) Writable() bool { return len(m.Perms) > 1 && m.Perms[1] == 'w' }

// Special reports whether the kernel made the mapping ([vdso], [vvar],
// [vsyscall]...): madvise(2) does not apply to those.
func (m Mapping) Special() bool { return len(m.Path) > 2 && m.Path[:2] == "[v" }

// Mappings reads this process's memory mappings from /proc/self/maps.
func Mappings() ([]Mapping, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	return ParseMaps(b)
}

// ParseMaps parses the text of a maps file (proc_pid_maps(5)).
func ParseMaps(b []byte) ([]Mapping, error) {
	var ms []Mapping
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
func parseMapsLine(line []byte) (Mapping, error) {
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
		return Mapping{}, fmt.Errorf("want start-end perms offset dev inode [path], got %q", line)
	}
	start, err1 := strconv.ParseUint(string(lo), 16, 64)
	end, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return Mapping{}, fmt.Errorf("want a hexadecimal address range, got %q", f[0])
	}
	return Mapping{
		Start: uintptr(start),
		End:   uintptr(end),
		Perms: string(f[1]),
		Path:  string(bytes.TrimLeft(rest, " ")),
	}, nil
}

// SetDontFork marks the pages of [start, end) not to be copied into a
// child by fork(2) (MADV_DONTFORK), or, with on false, to be copied again
// (MADV_DOFORK). See madvise(2).
func SetDontFork(start, end uintptr, on bool) error {
	advice := uintptr(unix.MADV_DOFORK)
	if on {
		advice = unix.MADV_DONTFORK
	}
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, advice); e != 0 {
		return os.NewSyscallError("madvise", e)
	}
	return nil
}
