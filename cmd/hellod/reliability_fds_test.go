package main

// Reliability, 4. fd exhaustion (see reliability_slow_test.go).

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
	"golang.org/x/sys/unix"
)

var recoveredRE = regexp.MustCompile(`accept recovered after (\d+) failures in ([0-9.]+m?s)`)

func TestReliabilityFDExhaustion(t *testing.T) {
	noRaceExitSleep(t)
	eachStrategy(t, func(t *testing.T, strategy string) {
		// The daemon runs under "ulimit -n 24" (soft and hard).
		cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -n 24 && exec "$0" "$@"`, os.Args[0]},
			hellodArgs(nil, "--listen", "127.0.0.1:0", strategy, "--max-children", "8")...)...)
		cmd.Env = environ()
		d := startCmd(t, cmd)
		d.waitListening()
		pid := d.pid()
		var lim unix.Rlimit
		if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
			t.Fatal(err)
		}
		if lim.Cur != 24 || lim.Max != 24 {
			t.Fatalf("want the daemon's RLIMIT_NOFILE 24/24, got %d/%d", lim.Cur, lim.Max)
		}
		// It serves under that limit, 16 clients at once.
		r := load(d.addr, 200, 16, time.Minute, "Hello, World!\n", false, nil)
		if r.tally[gotOK].Load() != 200 {
			t.Fatalf("under ulimit -n 24: want 200 x 200, got %s %q", r.tally.String(), r.firstBad)
		}
		d.waitNoChildren(10 * time.Second)
		served := 200
		var cpus []string
		for episode := 1; episode <= 2; episode++ {
			// Exhaust: lower the soft limit to the lowest free descriptor
			// number, so the next accept4 fails with EMFILE.
			used, err := procfs.FDTargets(pid)
			if err != nil {
				t.Fatal(err)
			}
			free := 0
			for _, ok := used[free]; ok; _, ok = used[free] {
				free++
			}
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(free), Max: 24}, nil); err != nil {
				t.Fatal(err)
			}
			const waiting = 5
			results := make(chan outcome, waiting)
			for i := 0; i < waiting; i++ {
				go func() {
					o, _, _ := hit(d.addr, nil, 30*time.Second, "Hello, World!\n")
					results <- o
				}()
			}
			d.waitLogN("accept: out of resources", episode)
			// Measure the daemon's CPU while accept keeps failing.
			const window = 3 * time.Second
			c0, w0 := d.cpuTicks(), time.Now()
			time.Sleep(window) // a measurement window, not a synchronisation
			c1, w1 := d.cpuTicks(), time.Now()
			cpu := float64(c1-c0) / 100 / w1.Sub(w0).Seconds()
			if cpu > 0.05 {
				t.Errorf("episode %d: want the daemon nearly idle while accept fails (backoff), got %.1f%% CPU", episode, 100*cpu)
			}
			if got := d.count("(1x 200)"); got != served {
				t.Errorf("episode %d: want no connection served while out of descriptors, got %d new", episode, got-served)
			}
			// Free descriptors: the daemon recovers by itself.
			freed := time.Now()
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 24, Max: 24}, nil); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < waiting; i++ {
				if o := <-results; o != gotOK {
					t.Errorf("episode %d: want every waiting client served after recovery, got %s", episode, outcomeNames[o])
				}
			}
			recovery := time.Since(freed)
			served += waiting
			line := d.waitLogN("accept recovered after", episode)
			m := recoveredRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("want %q in %q", recoveredRE, line)
			}
			fails, _ := strconv.Atoi(m[1])
			if fails > 30 {
				t.Errorf("episode %d: want a backoff (a few accept attempts), got %d failed accepts in %s", episode, fails, m[2])
			}
			if n := d.count("accept: out of resources"); n != episode {
				t.Errorf("want the exhaustion logged once per episode (%d episodes), got %d lines", episode, n)
			}
			cpus = append(cpus, fmt.Sprintf("episode%d_cpu_pct=%.1f episode%d_failed_accepts=%d episode%d_recovery_ms=%s", episode, 100*cpu, episode, fails, episode, ms(recovery)))
		}
		d.waitNoChildren(10 * time.Second)
		if o, _, err := hit(d.addr, nil, 10*time.Second, "Hello, World!\n"); o != gotOK {
			t.Errorf("after the episodes: want a 200, got %s (%v)", outcomeNames[o], err)
		}
		t.Logf("FIGURE fd-exhaustion/%s: rlimit_nofile=24 %s log_lines_per_episode=1", strategy[8:], strings.Join(cpus, " "))
	})
}
