package main

import (
	"fmt"
	"strings"
	"time"
)

// The tables of wrk mode, and the text and Markdown pieces both modes share.

// wkey is one wrk-mode row: a server under one load at one concurrency.
type wkey struct {
	server, load string
	c            int
}

// wcol is one column of the wrk ratios: a load at a concurrency.
type wcol struct {
	load string
	c    int
}

func (w wcol) String() string { return fmt.Sprintf("%s c=%d", w.load, w.c) }

type wrkRatio struct{ label, num, den, what string }

var wrkRatios = []wrkRatio{
	{"hellod-fork / nginx (req/s)", "hellod-fork", "nginx", "rps"},
	{"hellod-exec / nginx (req/s)", "hellod-exec", "nginx", "rps"},
	{"hellod-fork / cfork-ka (req/s, the keep-alive fork floor)", "hellod-fork", "cfork-ka", "rps"},
	{"hellod-exec / cfork-ka (req/s)", "hellod-exec", "cfork-ka", "rps"},
	{"hellod-fork / cfork (req/s, one request per child)", "hellod-fork", "cfork", "rps"},
	{"hellod-fork / apache (req/s)", "hellod-fork", "apache", "rps"},
	{"hellod-fork / nethttp (req/s)", "hellod-fork", "nethttp", "rps"},
	{"hellod-exec / hellod-fork (req/s)", "hellod-exec", "hellod-fork", "rps"},
	{"cfork-ka / nginx (req/s)", "cfork-ka", "nginx", "rps"},
	{"hellod-fork-quiet / hellod-fork (req/s, logging off vs on)", "hellod-fork-quiet", "hellod-fork", "rps"},
	{"hellod-fork / cfork-ka (CPU per request)", "hellod-fork", "cfork-ka", "cpu"},
	{"hellod-fork / nginx (CPU per request)", "hellod-fork", "nginx", "cpu"},
}

// wrkTarget is one of issue 10's targets: num/den >= min in one column.
type wrkTarget struct {
	num, den string
	col      wcol
	min      float64
	note     string
}

var wrkTargets = []wrkTarget{
	{"hellod-fork", "nginx", wcol{"keep-alive", 16}, 0.8, " (stretch: >= 1.0)"},
	{"hellod-fork", "cfork-ka", wcol{"keep-alive", 16}, 1.0, ""},
	{"hellod-exec", "nginx", wcol{"keep-alive", 16}, 0.5, ""},
	{"hellod-fork", "cfork", wcol{"close", 16}, 1.1, ""},
}

func summarizeWRK(cfg *config, defs []*serverDef, all []result, problems []string) tables {
	by := map[wkey][]result{}
	for _, r := range all {
		k := wkey{r.Server, r.Load, r.C}
		by[k] = append(by[k], r)
	}
	var t tables
	t.main.header = []string{"server", "load", "c", "req/s", "req/s min-max", "p50 ms", "p99 ms", "socket errors", "non-2xx/3xx",
		"req/conn", "CPU us/req", "cgroup CPU us/req", "parent RSS MB", "child RSS p50/peak MB", "max children", "wrk CPU %", "other CPU %", "runs"}
	meds := map[wkey]agg{}
	errs := map[string][2]int{} // server: socket errors, non-2xx over every run
	var cols []wcol
	for _, load := range cfg.wrkLoads {
		for _, c := range cfg.wrkConc {
			cols = append(cols, wcol{load, c})
			for _, d := range defs {
				rs := by[wkey{d.Name, load, c}]
				if len(rs) == 0 {
					continue
				}
				a := aggregate(rs)
				meds[wkey{d.Name, load, c}] = a
				e := errs[d.Name]
				errs[d.Name] = [2]int{e[0] + a.failed, e[1] + a.non2xx}
				cells, _ := a.cells()
				name := d.Name
				if a.failed+a.non2xx > 0 {
					name += " !!"
				}
				row := append([]string{name, load, fmt.Sprint(c)}, cells[:6]...)
				row = append(row, cf(a.reqConn, "%.1f"))
				t.main.rows = append(t.main.rows, append(row, cells[6:]...))
			}
		}
	}
	t.notes(defs, all, problems)
	ratio := func(num, den, what string, col wcol) (float64, bool) {
		n, ok1 := meds[wkey{num, col.load, col.c}]
		d, ok2 := meds[wkey{den, col.load, col.c}]
		nv, dv := n.rps, d.rps
		if what == "cpu" {
			nv, dv = n.cpu, d.cpu
		}
		if !ok1 || !ok2 || nv <= 0 || dv <= 0 {
			return 0, false
		}
		return nv / dv, true
	}
	t.ratios.header = []string{"ratio"}
	for _, col := range cols {
		t.ratios.header = append(t.ratios.header, col.String())
	}
	for _, r := range wrkRatios {
		row, any := []string{r.label}, false
		for _, col := range cols {
			v, ok := ratio(r.num, r.den, r.what, col)
			cell := "-"
			if ok {
				cell, any = fmt.Sprintf("%.2f", v), true
			}
			row = append(row, cell)
		}
		if any {
			t.ratios.rows = append(t.ratios.rows, row)
		}
	}
	var targets []string
	for _, g := range wrkTargets {
		v, ok := ratio(g.num, g.den, "rps", g.col)
		verdict := "not measured"
		if ok {
			verdict = fmt.Sprintf("%.3f: met", v)
			if v < g.min {
				verdict = fmt.Sprintf("%.3f: NOT met", v)
			}
		}
		targets = append(targets, fmt.Sprintf("%s: %s >= %.1fx %s%s: %s", g.col, g.num, g.min, g.den, g.note, verdict))
	}
	for _, d := range defs {
		e, ok := errs[d.Name]
		if !ok {
			continue
		}
		verdict := "0 errors"
		if e[0]+e[1] > 0 {
			verdict = fmt.Sprintf("!! %d socket errors, %d non-2xx/3xx responses", e[0], e[1])
		}
		if strings.HasPrefix(d.Name, "hellod") || e[0]+e[1] > 0 {
			targets = append(targets, fmt.Sprintf("every run: %s: %s", d.Name, verdict))
		}
	}
	var b strings.Builder
	b.WriteString("\n== issue 10's targets (medians of this run)\n")
	for _, l := range targets {
		b.WriteString("  " + l + "\n")
	}
	t.extra = targets
	t.text = textReport(t, b.String())
	return t
}

// notes lists the skipped rows and, after problems (the preflight's), every
// run's problems.
func (t *tables) notes(defs []*serverDef, all []result, problems []string) {
	for _, d := range defs {
		if d.Missing != "" {
			t.skipped = append(t.skipped, fmt.Sprintf("%s: %s", d.Name, d.Missing))
		}
	}
	t.problems = problems
	for _, r := range all {
		load := ""
		if r.Load != "" {
			load = r.Load + " "
		}
		for _, p := range r.Problems {
			t.problems = append(t.problems, fmt.Sprintf("round %d, %sc=%d, %s: %s", r.Round, load, r.C, r.Server, p))
		}
	}
}

// textReport is the text summary printed at the end of a run; extra goes
// after the ratios.
func textReport(t tables, extra string) string {
	var b strings.Builder
	b.WriteString("== medians over rounds (failed/socket errors and non-2xx: sums over rounds)\n")
	b.WriteString(t.main.text())
	if t.sigchldNote {
		b.WriteString(sigchldNote + "\n")
	}
	if len(t.ratios.rows) > 0 {
		b.WriteString("\n== ratios of medians\n")
		b.WriteString(t.ratios.text())
	}
	b.WriteString(extra)
	for _, s := range t.skipped {
		b.WriteString("\nSKIPPED " + s)
	}
	if len(t.problems) > 0 {
		b.WriteString("\n== problems seen\n")
		for _, p := range t.problems {
			b.WriteString("  " + p + "\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

func markdownWRK(cfg *config, facts [][2]string, startedAt time.Time, t tables) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## wrk benchmark results (%s)\n\n", startedAt.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Command: `%s`\n\n", cfg.cmdline)
	fmt.Fprintf(&b, "%d interleaved rounds; in each round, for each load (%s), for each connection count (%s), every server in turn, "+
		"each on a fresh process and a fresh loopback port; `wrk -t %d -c C -d %ds --latency` "+
		"(keep-alive: wrk's default, HTTP/1.1 persistent connections; close: `-H 'Connection: close'`, a new connection per request). "+
		"Medians over rounds; socket errors and non-2xx/3xx are sums over rounds; a server with any is marked `!!`.\n\n",
		cfg.rounds, strings.Join(cfg.wrkLoads, ", "), strings.Trim(strings.Join(strings.Fields(fmt.Sprint(cfg.wrkConc)), ","), "[]"),
		cfg.wrkThreads, cfg.wrkD)
	b.WriteString(factsMarkdown(facts))
	b.WriteString(t.main.markdown())
	if len(t.ratios.rows) > 0 {
		b.WriteString("\nRatios of medians:\n\n")
		b.WriteString(t.ratios.markdown())
	}
	if len(t.extra) > 0 {
		b.WriteString("\nIssue 10's targets, from these medians:\n\n")
		for _, l := range t.extra {
			b.WriteString("- " + l + "\n")
		}
	}
	b.WriteString(listsMarkdown(t))
	b.WriteString("\nColumns: socket errors are wrk's connect, read, write and timeout errors (a response wrk cannot parse counts as a read error); " +
		"req/conn is the requests over the TCP connections opened on the machine during the run (Tcp ActiveOpens, machine-wide: " +
		"about 1 with Connection: close, large when the connections persist). " +
		"CPU us/req is utime+stime+cutime+cstime of the server's process tree (main PID, reaped children, live workers), delta over the run, " +
		"divided by completed requests; cgroup CPU the same from a cpuacct cgroup. wrk CPU % is wrk's own CPU over the run's wall time " +
		"(it has 2 threads on a 2-core machine: the load generator takes CPU from the server). " +
		"Other CPU % is the machine's user+system+steal time not accounted to the server, wrk or the harness, as a share of all CPUs.\n")
	return b.String()
}

// factsMarkdown is the machine table of a results file.
func factsMarkdown(facts [][2]string) string {
	var b strings.Builder
	b.WriteString("| machine | |\n| --- | --- |\n")
	for _, f := range facts {
		fmt.Fprintf(&b, "| %s | %s |\n", f[0], f[1])
	}
	b.WriteString("\n")
	return b.String()
}

// listsMarkdown lists the skipped rows and the problems seen.
func listsMarkdown(t tables) string {
	var b strings.Builder
	if len(t.skipped) > 0 {
		b.WriteString("\nSkipped rows:\n\n")
		for _, s := range t.skipped {
			b.WriteString("- " + s + "\n")
		}
	}
	if len(t.problems) > 0 {
		b.WriteString("\nProblems seen:\n\n")
		for _, p := range t.problems {
			b.WriteString("- " + p + "\n")
		}
	}
	return b.String()
}
