// Command spawnfloor measures the "spawn floor" of bench/run.sh: how many
// times per second this machine can start and reap a bare Go binary (see
// ./nop) with a given concurrency, using syscall.StartProcess and
// syscall.Wait4, as a re-exec-per-connection server must at the very least.
//
// It prints one line of key=value pairs, e.g.
//
//	spawns=20000 seconds=12.3 spawns_per_s=1626 cpu_us_per_spawn=1180 child_maxrss_kb=2400 failed=0
//
// cpu_us_per_spawn is the CPU of this process plus its reaped children,
// divided by the number of spawns.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "", "binary to spawn (required)")
	conc := flag.Int("c", 16, "spawns in flight at once")
	n := flag.Int("n", 10000, "total spawns")
	limit := flag.Duration("t", 60*time.Second, "stop starting new spawns after this long")
	env := flag.String("env", "", "comma-separated KEY=VALUE pairs for the child's environment (default: empty environment)")
	flag.Parse()
	if *bin == "" || *conc < 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: spawnfloor -bin PATH [-c 16] [-n 10000] [-t 60s] [-env K=V,...]")
		os.Exit(2)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawnfloor:", err)
		os.Exit(1)
	}
	var childEnv []string
	if *env != "" {
		childEnv = strings.Split(*env, ",")
	}
	attr := &syscall.ProcAttr{
		Env:   childEnv,
		Files: []uintptr{devnull.Fd(), devnull.Fd(), devnull.Fd()},
	}
	argv := []string{*bin}

	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var (
		next, done, failed atomic.Int64
		maxRSS             atomic.Int64
		firstErr           atomic.Value
		wg                 sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*limit)
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) && time.Now().Before(deadline) {
				pid, _, err := syscall.StartProcess(*bin, argv, attr)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				var ws syscall.WaitStatus
				var ru syscall.Rusage
				for {
					_, err = syscall.Wait4(pid, &ws, 0, &ru)
					if err != syscall.EINTR {
						break
					}
				}
				if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
					failed.Add(1)
					if err == nil {
						err = fmt.Errorf("child status %v", ws)
					}
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
				for {
					m := maxRSS.Load()
					if int64(ru.Maxrss) <= m || maxRSS.CompareAndSwap(m, int64(ru.Maxrss)) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec)*1e6 + float64(t.Usec) }
	cpu := tv(self.Utime) + tv(self.Stime) - tv(before.Utime) - tv(before.Stime) + tv(kids.Utime) + tv(kids.Stime)
	d := done.Load()
	perSpawn := 0.0
	if d > 0 {
		perSpawn = cpu / float64(d)
	}
	fmt.Printf("spawns=%d seconds=%.3f spawns_per_s=%.1f cpu_us_per_spawn=%.1f child_maxrss_kb=%d failed=%d\n",
		d, elapsed, float64(d)/elapsed, perSpawn, maxRSS.Load(), failed.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "spawnfloor: first failure:", e)
	}
}
