package main

// Reliability, 7. soak (see reliability_slow_test.go).

import (
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// soakCount is the fork soak's size: HELLOD_SOAK if set, else 200000
// (2000 under -race or -short).
func soakCount(t *testing.T) int {
	if v := os.Getenv("HELLOD_SOAK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("HELLOD_SOAK=%q: want a number of connections, at least 1000", v)
		}
		return n
	}
	return scaled(200000, 2000)
}

type procSample struct {
	rss, threads, goroutines int64
	fds                      int
}

var goroutinesRE = regexp.MustCompile(`GOROUTINES=(\d+)`)

// sample reads the parent's RSS, threads and descriptors from /proc,
// and its goroutine count from the line SIGUSR1 makes it log.
func (d *daemon) sample() procSample {
	d.t.Helper()
	d.usr1++
	d.signal(syscall.SIGUSR1)
	m := goroutinesRE.FindStringSubmatch(d.waitLogN("GOROUTINES=", d.usr1))
	g, _ := strconv.ParseInt(m[1], 10, 64)
	return procSample{d.status("VmRSS"), d.status("Threads"), g, d.fds()}
}

func TestReliabilitySoak(t *testing.T) {
	noRaceExitSleep(t)
	raiseNofile(t, 512)
	eachStrategy(t, func(t *testing.T, strategy string) {
		n := soakCount(t)
		if strategy == "--child=exec" {
			n = min(n, scaled(20000, 1000)) // about 1k connections/s: 20k is enough
		}
		const conc = 32
		d := start(t, nil, strategy, "--max-children", "64")
		// Warm up, so that "start" is the steady state (heap, threads).
		warm := load(d.addr, scaled(2000, 200), conc, time.Minute, "Hello, World!\n", false, nil)
		if warm.tally[gotOK].Load() != int64(scaled(2000, 200)) {
			t.Fatalf("warm-up: want every request served, got %s %q", warm.tally.String(), warm.firstBad)
		}
		d.waitNoChildren(10 * time.Second)
		s0 := d.sample()
		var mid procSample
		half := n / 2
		r1 := load(d.addr, half, conc, 10*time.Minute, "Hello, World!\n", false, nil)
		d.waitNoChildren(10 * time.Second)
		mid = d.sample()
		r2 := load(d.addr, n-half, conc, 10*time.Minute, "Hello, World!\n", false, nil)
		d.waitNoChildren(30 * time.Second)
		d.waitFDs(s0.fds, 10*time.Second)
		s1 := d.sample()
		ok := r1.tally[gotOK].Load() + r2.tally[gotOK].Load()
		if ok != int64(n) {
			t.Errorf("want %d complete 200s, got %s / %s; first: %q %q", n, r1.tally.String(), r2.tally.String(), r1.firstBad, r2.firstBad)
		}
		if s1.fds != s0.fds {
			t.Errorf("want the parent's fd count flat, got %d at start and %d at the end", s0.fds, s1.fds)
		}
		if s1.goroutines > s0.goroutines+2 {
			t.Errorf("want the parent's goroutine count flat, got %d at start and %d at the end", s0.goroutines, s1.goroutines)
		}
		if s1.threads > s0.threads+2 {
			t.Errorf("want the parent's thread count flat, got %d at start and %d at the end", s0.threads, s1.threads)
		}
		// Flat: the second half adds at most 2 MiB (a leaked goroutine, 2 KiB
		// of stack at least, or 200 bytes per connection would add >= 2 MiB
		// over 10k connections), the whole run at most 8 MiB (the heap
		// settles during the first half).
		// (Not under -race: the race detector's shadow memory grows with
		// every goroutine and allocation it has seen.)
		if !raceEnabled && (s1.rss-mid.rss > 2048 || s1.rss-s0.rss > 8192) {
			t.Errorf("want the parent's RSS flat (at most +2048 kB over the second half, +8192 kB in all), got %d kB at start, %d at half-way, %d at the end", s0.rss, mid.rss, s1.rss)
		}
		elapsed := r1.elapsed + r2.elapsed
		t.Logf("FIGURE soak/%s: connections=%d concurrency=%d elapsed_s=%.1f conn_per_s=%.0f p50_ms=%s p99_ms=%s max_ms=%s rss_kb start=%d mid=%d end=%d fds start=%d mid=%d end=%d threads start=%d mid=%d end=%d goroutines start=%d mid=%d end=%d",
			strategy[8:], n, conc, elapsed.Seconds(), float64(n)/elapsed.Seconds(),
			ms(percentile(append(r1.lat, r2.lat...), 0.5)), ms(percentile(append(r1.lat, r2.lat...), 0.99)), ms(percentile(append(r1.lat, r2.lat...), 1)),
			s0.rss, mid.rss, s1.rss, s0.fds, mid.fds, s1.fds, s0.threads, mid.threads, s1.threads, s0.goroutines, mid.goroutines, s1.goroutines)
	})
}
