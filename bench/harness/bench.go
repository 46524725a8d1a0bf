package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

// result is one (round, server, concurrency) measurement.
type result struct {
	Server        string
	Load          string // "" for ab; wrk's "keep-alive" or "close"
	C, Round      int
	AB            abResult
	CPUus         float64 // tree CPU (utime+stime+cutime+cstime) per completed request, µs
	CgCPUus       float64 // cgroup CPU per completed request, µs; -1 when unavailable
	ParentRSS     int64   // kB, VmRSS after the run
	ChildRSSMed   int64   // kB, median of children VmRSS samples; -1 when none sampled
	ChildRSSMax   int64   // kB, max of children VmRSS samples; -1 when none sampled
	MaxChildren   int     // most children seen at once
	LeftChildren  int     // children still there 10 s after ab finished
	LogLines      int
	LogBad        int
	Problems      []string
	OtherCPU      float64 // % of all CPUs used by processes outside this run during it; -1 unknown
	Conns         int64   // TCP connections opened on the machine during the run (Tcp ActiveOpens); -1 unknown
	Spawn         bool    // a spawn-floor row: AB.RPS is spawns/s, no latency
	SpawnsPerS    float64
	SigchldIgnore bool
}

// sampler polls a server's children during a run.
type sampler struct {
	pid     int
	every   time.Duration
	stop    chan struct{}
	wg      sync.WaitGroup
	rss     []int64
	maxKids int
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{pid: pid, every: every, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		rot := 0
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			kids := children(pid)
			s.maxKids = max(s.maxKids, len(kids))
			// Read at most 4 children per tick, rotating, to keep the
			// sampler's own CPU small.
			for i := 0; i < len(kids) && i < 4; i++ {
				k := kids[(rot+i)%len(kids)]
				if v, err := procfs.StatusField(k, "VmRSS"); err == nil && v > 0 && len(s.rss) < 1_000_000 {
					s.rss = append(s.rss, v)
				}
			}
			rot++
		}
	}()
	return s
}

func (s *sampler) finish() (med, peak int64, maxKids int) {
	close(s.stop)
	s.wg.Wait()
	if len(s.rss) == 0 {
		return -1, -1, s.maxKids
	}
	slices.Sort(s.rss)
	return s.rss[len(s.rss)/2], s.rss[len(s.rss)-1], s.maxKids
}

// loadFunc runs one bounded load at concurrency c against url; a wrk run
// reports in the same shape as ab's.
type loadFunc func(c int, url string) abResult

// abLoad is the ab load of bench mode: cfg.n requests, one connection each.
func abLoad(cfg *config) loadFunc {
	return func(c int, url string) abResult { return runAB(cfg.n, c, cfg.timeLimit, url, cfg.workDir, nil) }
}

// measure runs one server under one load at one concurrency on a fresh
// server process.
func measure(cfg *config, def *serverDef, c, round int, logDir, load string, run loadFunc) result {
	res := result{Server: def.Name, Load: load, C: c, Round: round, CgCPUus: -1, ChildRSSMed: -1, ChildRSSMax: -1, OtherCPU: -1, Conns: -1}
	srv, err := start(def, logDir, cfg.cgroups)
	if err != nil {
		res.Problems = append(res.Problems, "start: "+err.Error())
		return res
	}
	defer srv.stop()
	res.SigchldIgnore = sigchldIgnored(srv.pid)
	cpu0, _ := treeCPU(srv.pid)
	var cg0 float64
	if srv.cg != nil {
		cg0, _ = srv.cg.usage()
	}
	opens0, opensErr := tcpActiveOpens()
	busy0, self0, t0 := machineBusy(), selfCPU(), time.Now()
	smp := startSampler(srv.pid, cfg.sampleEvery)
	res.AB = run(c, fmt.Sprintf("http://127.0.0.1:%d/", srv.port))
	res.ChildRSSMed, res.ChildRSSMax, res.MaxChildren = smp.finish()
	busy1, self1, wall := machineBusy(), selfCPU(), time.Since(t0).Seconds()
	if opens1, err := tcpActiveOpens(); err == nil && opensErr == nil {
		res.Conns = opens1 - opens0
	}
	if !def.Workers {
		res.LeftChildren = waitNoChildren(srv.pid, 10*time.Second)
	}
	if !srv.alive() {
		res.Problems = append(res.Problems, fmt.Sprintf("server exited during the run (%v): %s", srv.waitErr, tail(srv.logPath, 3)))
	} else {
		cpu1, _ := treeCPU(srv.pid)
		if res.AB.Complete > 0 {
			res.CPUus = (cpu1 - cpu0) * 1e6 / float64(res.AB.Complete)
		}
		if srv.cg != nil {
			if cg1, err := srv.cg.usage(); err == nil && res.AB.Complete > 0 {
				res.CgCPUus = (cg1 - cg0) * 1e6 / float64(res.AB.Complete)
			}
		}
		res.ParentRSS, _ = procfs.StatusField(srv.pid, "VmRSS")
		// Everything the machine did during the load that was not the
		// server, ab or the harness: other tenants' noise. (The server's
		// CPU is read a little after the load ended; the error is small.)
		serverCPU := cpu1 - cpu0
		if res.CgCPUus >= 0 {
			serverCPU = res.CgCPUus * float64(res.AB.Complete) / 1e6
		}
		other := (busy1 - busy0) - serverCPU - res.AB.ABCPU - (self1 - self0)
		res.OtherCPU = max(0, 100*other/(wall*float64(runtime.NumCPU())))
	}
	if res.AB.Err != "" {
		res.Problems = append(res.Problems, res.AB.Err)
	}
	if res.AB.Failed > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d failed requests %s", res.AB.Failed, res.AB.FailDetail))
	}
	if res.AB.Non2xx > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d non-2xx responses", res.AB.Non2xx))
	}
	if res.LeftChildren > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d children still alive 10 s after the load ended", res.LeftChildren))
	}
	srv.stop()
	res.LogLines, res.LogBad, _ = logScan(srv.logPath)
	if res.LogBad > 0 {
		_, _, samples := logScan(srv.logPath)
		res.Problems = append(res.Problems, fmt.Sprintf("%d warning/error log lines (log kept: %s), e.g. %s", res.LogBad, srv.logPath, strings.Join(samples, " / ")))
	}
	if len(res.Problems) == 0 && !cfg.keepLogs {
		_ = os.Remove(srv.logPath)
	}
	return res
}

// spawnFloor runs bench/spawnfloor once.
func spawnFloor(cfg *config, name, bin, env string, round int) result {
	res := result{Server: name, C: spawnConc, Round: round, CgCPUus: -1, ChildRSSMed: -1, ChildRSSMax: -1, OtherCPU: -1, Spawn: true}
	args := []string{"-k", "5", strconv.Itoa(cfg.timeLimit + 20), filepath.Join(cfg.binDir, "spawnfloor"),
		"-bin", filepath.Join(cfg.binDir, bin), "-c", strconv.Itoa(spawnConc), "-n", strconv.Itoa(cfg.spawnN),
		"-t", fmt.Sprintf("%ds", cfg.timeLimit)}
	if env != "" {
		args = append(args, "-env", env)
	}
	cmd := exec.Command("timeout", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		res.Problems = append(res.Problems, "spawnfloor: "+err.Error())
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(string(out)) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	res.SpawnsPerS, _ = strconv.ParseFloat(kv["spawns_per_s"], 64)
	res.AB.RPS = res.SpawnsPerS
	res.AB.Complete, _ = strconv.Atoi(kv["spawns"])
	res.AB.Failed, _ = strconv.Atoi(kv["failed"])
	res.CPUus, _ = strconv.ParseFloat(kv["cpu_us_per_spawn"], 64)
	if v, err := strconv.ParseInt(kv["child_maxrss_kb"], 10, 64); err == nil {
		res.ChildRSSMax = v
	}
	if res.SpawnsPerS == 0 {
		res.Problems = append(res.Problems, "spawnfloor printed no rate: "+strings.TrimSpace(string(out)))
	}
	return res
}

func runBench(cfg *config) error {
	logDir, err := prepare(cfg)
	if err != nil {
		return err
	}
	facts := machineFacts()
	startedAt := time.Now()
	defs := servers(cfg)

	preflightProblems := preflight(defs, logDir)
	fmt.Printf("== %d rounds x concurrency %v x %d requests per run, fresh server process per run\n", cfg.rounds, cfg.conc, cfg.n)

	var all []result
	report := func(r result) {
		all = append(all, r)
		printResult(r)
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, c := range cfg.conc {
			for _, d := range defs {
				if d.Missing != "" {
					continue
				}
				report(measure(cfg, d, c, round, logDir, "", abLoad(cfg)))
			}
			if c == spawnConc && (cfg.only == nil || cfg.only["spawn-floor"]) {
				for _, s := range spawnRows {
					report(spawnFloor(cfg, s.Name, s.Bin, s.Env, round))
				}
			}
		}
	}
	if !slices.Contains(cfg.conc, spawnConc) && (cfg.only == nil || cfg.only["spawn-floor"]) {
		// The spawn floor is defined at c=16; measure it even if the load
		// concurrencies do not include 16.
		for round := 1; round <= cfg.rounds; round++ {
			for _, s := range spawnRows {
				report(spawnFloor(cfg, s.Name, s.Bin, s.Env, round))
			}
		}
	}
	facts = append(facts, [2]string{"load at end (1/5/15 min)", loadavg()})
	facts = append(facts, [2]string{"duration", time.Since(startedAt).Round(time.Second).String()})
	tables := summarize(cfg, defs, all, preflightProblems)
	fmt.Println()
	fmt.Print(tables.text)
	if cfg.out != "" {
		md := markdown(cfg, facts, startedAt, tables)
		if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nMarkdown written to %s\n", cfg.out)
	}
	return nil
}

// preflight starts every server once and sends it one GET: one that does not
// start or answer is marked Missing (skipped), a hellod strategy that does
// not exist yet (usage error) among them; an answer other than 200 is
// returned as a problem.
func preflight(defs []*serverDef, logDir string) []string {
	fmt.Println("== preflight")
	var problems []string
	for _, d := range defs {
		if d.Missing != "" {
			fmt.Printf("  %-18s SKIPPED: %s\n", d.Name, d.Missing)
			continue
		}
		srv, err := start(d, logDir, false)
		if err != nil {
			d.Missing = "did not start: " + err.Error()
			fmt.Printf("  %-18s SKIPPED: %s\n", d.Name, d.Missing)
			continue
		}
		status, body, err := probe(srv.port)
		srv.stop()
		if err != nil {
			d.Missing = "no answer to one GET: " + err.Error()
			fmt.Printf("  %-18s SKIPPED: %s (log %s)\n", d.Name, d.Missing, srv.logPath)
			continue
		}
		if !strings.Contains(status, " 200 ") {
			problems = append(problems, fmt.Sprintf("preflight, %s: one GET (%q) got %q, body %q (log kept: %s)",
				d.Name, probeRequest, status, body, srv.logPath))
			fmt.Printf("  %-18s !! answered %s, body %q (log %s)\n", d.Name, status, body, srv.logPath)
			continue
		}
		_ = os.Remove(srv.logPath)
		fmt.Printf("  %-18s ok: %s, body %q\n", d.Name, status, body)
	}
	return problems
}

// prepare makes the scratch directory's logs directory, which it returns,
// and the static file.
func prepare(cfg *config) (string, error) {
	logDir := filepath.Join(cfg.workDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return "", err
	}
	return logDir, writeWWW(cfg.workDir)
}

// writeWWW writes the static file busybox and Apache serve: the same body.
func writeWWW(workDir string) error {
	if err := os.MkdirAll(filepath.Join(workDir, "www"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(workDir, "www", "index.html"), []byte("Hello, World!\n"), 0o644)
}

// printResult prints one measurement as it is made.
func printResult(r result) {
	load := ""
	if r.Load != "" {
		load = fmt.Sprintf("%-10s ", r.Load)
	}
	line := fmt.Sprintf("  r%d %sc=%-3d %-18s %8.0f req/s", r.Round, load, r.C, r.Server, r.AB.RPS)
	if !r.Spawn {
		line += fmt.Sprintf("  p50 %6.2f ms  p99 %7.2f ms  fail %d  non2xx %d", r.AB.P50, r.AB.P99, r.AB.Failed, r.AB.Non2xx)
	}
	if r.Load != "" && r.Conns > 0 {
		line += fmt.Sprintf("  %6.1f req/conn", float64(r.AB.Complete)/float64(r.Conns))
	}
	per := "conn" // ab: one connection per request
	if r.Load != "" {
		per = "req"
	}
	line += fmt.Sprintf("  cpu %5.0f us/%s", r.CPUus, per)
	if r.OtherCPU >= 0 {
		line += fmt.Sprintf("  other %2.0f%%", r.OtherCPU)
	}
	if len(r.Problems) > 0 {
		line += "  !! " + strings.Join(r.Problems, "; ")
	}
	fmt.Println(line)
}
