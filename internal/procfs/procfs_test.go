package procfs

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNumber(t *testing.T) {
	status := []byte("Name:\thellod\nVmPeak:\t  10000 kB\nVmRSS:\t    1234 kB\nThreads:\t5\nSigIgn:\t0000000000010000\nEmpty:\n")
	for _, c := range []struct {
		key  string
		want int64
	}{{"VmRSS", 1234}, {"Threads", 5}, {"VmPeak", 10000}} {
		if got, err := Number(status, c.key); err != nil || got != c.want {
			t.Errorf("Number(%s): want %d, got %d, %v", c.key, c.want, got, err)
		}
	}
	for _, key := range []string{"VmSwap", "Empty", "Name", "VmRS"} {
		if got, err := Number(status, key); err == nil {
			t.Errorf("Number(%s): want an error, got %d", key, got)
		}
	}
	if v, err := Value(status, "SigIgn"); err != nil || v != "0000000000010000" {
		t.Errorf("Value(SigIgn): want 0000000000010000, got %q, %v", v, err)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and a ')'; utime 100, stime 50, cutime 30, cstime 20.
	s, err := ParseStat([]byte("1234 (a (b) c) S 7 1234 1234 0 -1 4194560 100 0 0 0 100 50 30 20 20 0 1 0 5 1000 100\n"))
	if want := (ProcStat{State: 'S', PPID: 7, UTime: 100, STime: 50, CUTime: 30, CSTime: 20}); err != nil || s != want {
		t.Errorf("want %+v, got %+v, %v", want, s, err)
	}
	for _, bad := range []string{"1 (x) S 1 2", "1 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", "1 (x) S p 0 0 0 0 0 0 0 0 0 1 2 3 4"} {
		if s, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q): want an error, got %+v", bad, s)
		}
	}
}

// TestSelf reads this test process's own /proc entries.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	if v, err := StatusField(pid, "VmRSS"); err != nil || v <= 0 {
		t.Errorf("StatusField(self, VmRSS): want > 0 kB, got %d, %v", v, err)
	}
	if v, err := StatusField(pid, "Threads"); err != nil || v < 1 {
		t.Errorf("StatusField(self, Threads): want >= 1, got %d, %v", v, err)
	}
	if _, err := StatusField(pid, "NoSuchField"); err == nil || !strings.Contains(err.Error(), "/status") {
		t.Errorf("StatusField(self, NoSuchField): want an error naming the file, got %v", err)
	}
	if v, err := StatusText(pid, "Name"); err != nil || v == "" {
		t.Errorf("StatusText(self, Name): want a name, got %q, %v", v, err)
	}
	if v, err := SmapsRollup(pid, "Pss"); err != nil || v <= 0 {
		t.Errorf("SmapsRollup(self, Pss): want > 0 kB, got %d, %v", v, err)
	}
	if v, err := MemInfo("MemTotal"); err != nil || v <= 0 {
		t.Errorf("MemInfo(MemTotal): want > 0 kB, got %d, %v", v, err)
	}
	s, err := Stat(pid)
	if err != nil || s.PPID != os.Getppid() || s.State != 'R' {
		t.Errorf("Stat(self): want state R and ppid %d, got %+v, %v", os.Getppid(), s, err)
	}
	// Burn some CPU: the ticks must move.
	c0, err := CPUTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		if c1, _ := CPUTicks(pid); c1 > c0 {
			break
		}
		for i := 0; i < 1e6; i++ {
			_ = strings.Repeat("x", i%3)
		}
	}
	if c1, err := CPUTicks(pid); err != nil || c1 <= c0 {
		t.Errorf("CPUTicks(self): want more than %d after spinning, got %d, %v", c0, c1, err)
	}
}

func TestFDs(t *testing.T) {
	pid := os.Getpid()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	m, err := FDTargets(pid)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[int(f.Fd())]; got != os.DevNull {
		t.Errorf("FDTargets(self)[%d]: want %s, got %q (all: %v)", f.Fd(), os.DevNull, got, m)
	}
	n0, err := FDCount(pid)
	if err != nil || n0 < 4 {
		t.Errorf("FDCount(self): want at least 4 (0-2 and %s), got %d, %v", os.DevNull, n0, err)
	}
	f.Close()
	if n1, err := FDCount(pid); err != nil || n1 != n0-1 {
		t.Errorf("FDCount(self) after a close: want %d, got %d, %v", n0-1, n1, err)
	}
	if _, err := FDTargets(-1); err == nil {
		t.Error("FDTargets(-1): want an error")
	}
}

func TestChildren(t *testing.T) {
	pid := os.Getpid()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	child := cmd.Process.Pid
	defer cmd.Process.Kill()
	kids, err := Children(pid)
	if err != nil || !slices.Contains(kids, child) {
		t.Fatalf("Children(self): want %d listed, got %v, %v", child, kids, err)
	}
	// Killed and not yet waited for, it is a zombie, and still listed.
	cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := Stat(child)
		if err != nil {
			t.Fatalf("Stat(zombie %d): %v", child, err)
		}
		if s.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want child %d a zombie after SIGKILL, got state %c", child, s.State)
		}
		time.Sleep(5 * time.Millisecond) // polling /proc, not synchronising
	}
	if kids, err := Children(pid); err != nil || !slices.Contains(kids, child) {
		t.Errorf("Children(self): want zombie %d listed, got %v, %v", child, kids, err)
	}
	cmd.Wait()
	if kids, err := Children(pid); err != nil || slices.Contains(kids, child) {
		t.Errorf("Children(self) after wait: want %d gone, got %v, %v", child, kids, err)
	}
	if _, err := Stat(child); err == nil {
		t.Errorf("Stat(%d) after wait: want an error", child)
	}
}
