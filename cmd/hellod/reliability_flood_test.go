package main

// Reliability, 3. flood (see reliability_slow_test.go).

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

func TestReliabilityFlood(t *testing.T) {
	noRaceExitSleep(t)
	n, conc := scaled(20000, 1000), scaled(512, 128)
	raiseNofile(t, conc+200)
	eachStrategy(t, func(t *testing.T, strategy string) {
		const cap = 64
		d := start(t, nil, strategy, "--max-children", strconv.Itoa(cap))
		// One connection first, so the baseline has whatever the first
		// child makes the parent open for good.
		if o, _, err := hit(d.addr, nil, 10*time.Second, "Hello, World!\n"); o != gotOK {
			t.Fatalf("want a 200, got %s (%v)", outcomeNames[o], err)
		}
		d.waitNoChildren(10 * time.Second)
		baseFD := d.fds()
		var maxKids, maxZombies atomic.Int64
		var peakRSS atomic.Int64
		samples := 0
		r := load(d.addr, n, conc, 5*time.Minute, "Hello, World!\n", false, func() {
			k, z := d.liveChildren()
			if int64(k) > maxKids.Load() {
				maxKids.Store(int64(k))
			}
			if int64(z) > maxZombies.Load() {
				maxZombies.Store(int64(z))
			}
			if samples++; samples%50 == 0 {
				// (On the load's sampling goroutine: no t.Fatal here.)
				if v, err := procfs.StatusField(d.pid(), "VmRSS"); err == nil && v > peakRSS.Load() {
					peakRSS.Store(v)
				}
			}
		})
		ok := r.tally[gotOK].Load()
		clean := r.tally[gotClose].Load() + r.tally[gotReset].Load()
		if ok+clean != int64(n) {
			t.Errorf("want %d complete 200s or clean closes, got %s; first: %q", n, r.tally.String(), r.firstBad)
		}
		if maxKids.Load() > cap {
			t.Errorf("want at most %d children at any time, got %d", cap, maxKids.Load())
		}
		d.waitNoChildren(30 * time.Second)
		afterFD := d.waitFDs(baseFD, 10*time.Second)
		if afterFD != baseFD {
			t.Errorf("want the parent's fd count back to %d, got %d", baseFD, afterFD)
		}
		// A child evicted after writing its 200 but before exiting (only
		// seen under -race, where children start and exit slowly) is logged
		// as killed although its client got the 200.
		evicted := d.count("(sent by hellod: evicted")
		if got := d.waitCount("(1x 200)", int(ok+1), 10*time.Second); int64(got) > ok+1 || int64(got) < ok+1-int64(evicted) {
			t.Errorf("want %d 200s logged (as many as clients got, less at most %d evicted), got %d", ok+1, evicted, got)
		}
		if o, _, err := hit(d.addr, nil, 10*time.Second, "Hello, World!\n"); o != gotOK {
			t.Errorf("after the flood: want a 200, got %s (%v)", outcomeNames[o], err)
		}
		t.Logf("FIGURE flood/%s: connections=%d concurrency=%d max_children=%d elapsed_s=%.1f conn_per_s=%.0f %s p50_ms=%s p99_ms=%s max_ms=%s max_children_seen=%d zombies_seen_max=%d zombies_after=0 evicted=%d parent_fd_before=%d parent_fd_after=%d parent_rss_peak_kb=%d",
			strategy[8:], n, conc, cap, r.elapsed.Seconds(), float64(n)/r.elapsed.Seconds(), r.tally.String(),
			ms(percentile(r.lat, 0.5)), ms(percentile(r.lat, 0.99)), ms(percentile(r.lat, 1)), maxKids.Load(), maxZombies.Load(),
			d.count("(sent by hellod: evicted"), baseFD, afterFD, peakRSS.Load())
	})
}
