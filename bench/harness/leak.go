package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

// leakPoint is the state of the hellod parent after some connections.
type leakPoint struct {
	label              string
	done               int // connections ab had completed; -1 for start and end
	rssKB, anonKB      int64
	fds, threads, kids int
}

func snapshot(label string, done, pid int) leakPoint {
	rss, _ := procfs.StatusField(pid, "VmRSS")
	anon, _ := procfs.StatusField(pid, "RssAnon")
	return leakPoint{label: label, done: done, rssKB: rss, anonKB: anon, fds: fdCount(pid), threads: threadCount(pid), kids: len(children(pid))}
}

// runLeak serves cfg.leakN connections with one hellod instance per child
// strategy and reports the parent's RSS, fds and threads at the start,
// every 10 % (ab's progress lines) and at the end.
func runLeak(cfg *config) error {
	logDir := filepath.Join(cfg.workDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "## Leak check (%s)\n\nCommand: `%s`\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), cfg.cmdline)
	fmt.Fprintf(&md, "One hellod instance per strategy, `ab -r -s 30 -t %d -n %d -c %d` (one new connection per request). "+
		"Parent state read from /proc when ab reports each 10 %%; \"end\" is after all children were reaped.\n\n",
		cfg.leakT, cfg.leakN, cfg.leakC)
	if _, err := os.Stat(filepath.Join(cfg.binDir, "hellod")); err != nil {
		return fmt.Errorf("hellod did not build; nothing to check")
	}
	for _, child := range cfg.leakChild {
		def := &serverDef{Name: "hellod-" + child, Argv: func(addr string) []string {
			return []string{filepath.Join(cfg.binDir, "hellod"), "--listen", addr, "--log-level", "error",
				"--max-children", fmt.Sprint(cfg.maxChildren), "--child", child}
		}}
		fmt.Printf("== leak check: hellod --child %s, %d connections at c=%d\n", child, cfg.leakN, cfg.leakC)
		srv, err := start(def, logDir, false)
		if err != nil {
			fmt.Printf("  SKIPPED: %v\n", err)
			fmt.Fprintf(&md, "### hellod --child %s\n\nSkipped: %v\n\n", child, err)
			continue
		}
		var mu sync.Mutex
		points := []leakPoint{snapshot("start", -1, srv.pid)}
		ab := runAB(cfg.leakN, cfg.leakC, cfg.leakT, fmt.Sprintf("http://127.0.0.1:%d/", srv.port), cfg.workDir, func(done int) {
			p := snapshot(fmt.Sprintf("after %d", done), done, srv.pid)
			mu.Lock()
			points = append(points, p)
			mu.Unlock()
		})
		left := waitNoChildren(srv.pid, 10*time.Second)
		var problems []string
		if srv.alive() {
			points = append(points, snapshot("end (children reaped)", -1, srv.pid))
		} else {
			problems = append(problems, fmt.Sprintf("hellod exited during the run (%v): %s", srv.waitErr, tail(srv.logPath, 3)))
		}
		srv.stop()
		if ab.Err != "" {
			problems = append(problems, ab.Err)
		}
		if ab.Failed > 0 || ab.Non2xx > 0 {
			problems = append(problems, fmt.Sprintf("%d failed %s, %d non-2xx", ab.Failed, ab.FailDetail, ab.Non2xx))
		}
		if left > 0 {
			problems = append(problems, fmt.Sprintf("%d children still alive 10 s after the load", left))
		}
		if _, bad, samples := logScan(srv.logPath); bad > 0 {
			problems = append(problems, fmt.Sprintf("%d warning/error log lines (%s), e.g. %s", bad, srv.logPath, strings.Join(samples, " / ")))
		}
		if len(problems) == 0 && !cfg.keepLogs {
			_ = os.Remove(srv.logPath)
		}
		t := table{header: []string{"point", "VmRSS MB", "RssAnon MB", "fds", "threads", "children"}}
		for _, p := range points {
			t.rows = append(t.rows, []string{p.label, fmt.Sprintf("%.2f", float64(p.rssKB)/1024), fmt.Sprintf("%.2f", float64(p.anonKB)/1024),
				fmt.Sprint(p.fds), fmt.Sprint(p.threads), fmt.Sprint(p.kids)})
		}
		summary := fmt.Sprintf("%d complete, %.0f req/s, %d failed, %d non-2xx, p50 %.2f ms, p99 %.2f ms",
			ab.Complete, ab.RPS, ab.Failed, ab.Non2xx, ab.P50, ab.P99)
		verdict := leakVerdict(points, cfg.leakN)
		fmt.Print(t.text())
		fmt.Println("  " + summary)
		fmt.Println("  " + verdict)
		for _, p := range problems {
			fmt.Println("  !! " + p)
		}
		fmt.Fprintf(&md, "### hellod --child %s\n\n%s\n%s. %s.\n", child, t.markdown(), summary, verdict)
		for _, p := range problems {
			fmt.Fprintf(&md, "\n- problem: %s", p)
		}
		md.WriteString("\n\n")
	}
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(md.String()), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nMarkdown written to %s\n", cfg.out)
	}
	return nil
}

// leakVerdict compares the second half of the run with the first: a parent
// that leaks per connection keeps growing after the half-way point.
func leakVerdict(ps []leakPoint, total int) string {
	if len(ps) < 3 {
		return "too few points for a verdict"
	}
	first, last := ps[0], ps[len(ps)-1]
	mid := ps[1]
	for _, p := range ps {
		if p.done >= 0 && abs(p.done-total/2) < abs(mid.done-total/2) {
			mid = p
		}
	}
	return fmt.Sprintf("VmRSS start -> %s -> end: %.2f -> %.2f -> %.2f MB (second-half growth %+.2f MB); fds %d -> %d; threads %d -> %d",
		mid.label, float64(first.rssKB)/1024, float64(mid.rssKB)/1024, float64(last.rssKB)/1024,
		float64(last.rssKB-mid.rssKB)/1024, first.fds, last.fds, first.threads, last.threads)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
