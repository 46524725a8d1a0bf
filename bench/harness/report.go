package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/procfs"
)

type table struct {
	header []string
	rows   [][]string
}

func (t table) text() string {
	w := make([]int, len(t.header))
	for i, h := range t.header {
		w[i] = len([]rune(h))
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			pad := w[i] - len([]rune(c))
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString("  " + strings.Repeat(" ", pad) + c)
			}
		}
		b.WriteString("\n")
	}
	line(t.header)
	sep := make([]string, len(w))
	for i := range w {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

func (t table) markdown() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(t.header, " | ") + " |\n|")
	for i := range t.header {
		if i == 0 {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// agg is the summary of one (server, concurrency) over the rounds.
type agg struct {
	runs                          int
	rps, rpsMin, rpsMax, p50, p99 float64
	cpu, cgCPU                    float64
	parentRSS, childMed, childMax float64 // kB
	maxKids                       float64
	abCPU                         float64 // % of one core
	reqConn                       float64 // requests per TCP connection opened; -1 unknown
	otherCPU                      float64 // % of all CPUs
	failed, non2xx, problemRuns   int
	spawn                         bool
	sigchldIgnored                bool
}

func aggregate(rs []result) agg {
	a := agg{runs: len(rs)}
	var rps, p50, p99, cpu, cg, prss, cmed, cmax, kids, abcpu, other, reqConn []float64
	for _, r := range rs {
		a.spawn = r.Spawn
		a.sigchldIgnored = a.sigchldIgnored || r.SigchldIgnore
		a.failed += r.AB.Failed
		a.non2xx += r.AB.Non2xx
		if len(r.Problems) > 0 {
			a.problemRuns++
		}
		if r.AB.RPS <= 0 {
			continue
		}
		rps = append(rps, r.AB.RPS)
		p50 = append(p50, r.AB.P50)
		p99 = append(p99, r.AB.P99)
		cpu = append(cpu, r.CPUus)
		if r.CgCPUus >= 0 {
			cg = append(cg, r.CgCPUus)
		}
		if r.ParentRSS > 0 {
			prss = append(prss, float64(r.ParentRSS))
		}
		if r.ChildRSSMed >= 0 {
			cmed = append(cmed, float64(r.ChildRSSMed))
		}
		if r.ChildRSSMax >= 0 {
			cmax = append(cmax, float64(r.ChildRSSMax))
		}
		kids = append(kids, float64(r.MaxChildren))
		if r.OtherCPU >= 0 {
			other = append(other, r.OtherCPU)
		}
		if r.AB.Wall > 0 {
			abcpu = append(abcpu, 100*r.AB.ABCPU/r.AB.Wall)
		}
		if r.Conns > 0 {
			reqConn = append(reqConn, float64(r.AB.Complete)/float64(r.Conns))
		}
	}
	a.rps, a.p50, a.p99, a.cpu, a.cgCPU = median(rps), median(p50), median(p99), median(cpu), median(cg)
	a.parentRSS, a.childMed, a.childMax, a.maxKids, a.abCPU = median(prss), median(cmed), median(cmax), median(kids), median(abcpu)
	a.otherCPU, a.reqConn = median(other), median(reqConn)
	if len(rps) > 0 {
		a.rpsMin, a.rpsMax = slices.Min(rps), slices.Max(rps)
	}
	return a
}

type tables struct {
	main, ratios table
	skipped      []string
	problems     []string
	extra        []string // wrk mode: issue 10's targets
	sigchldNote  bool
	text         string
}

type key struct {
	server string
	c      int
}

// cf formats v, or "-" for an unknown (negative) value.
func cf(v float64, format string) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// cells formats an aggregate's columns from req/s to runs, as the main
// table's header has them after server and c; sigchld says the CPU cell is
// marked with (*).
func (a agg) cells() (cells []string, sigchld bool) {
	mb := func(kb float64) string { return cf(kb/1024, "%.1f") }
	p50, p99 := cf(a.p50, "%.2f"), cf(a.p99, "%.2f")
	abcpu, other := cf(a.abCPU, "%.0f"), cf(a.otherCPU, "%.0f")
	kids := cf(a.maxKids, "%.0f")
	if a.spawn {
		p50, p99, abcpu, kids, other = "", "", "", "", ""
	}
	cpu := cf(a.cpu, "%.0f")
	if a.sigchldIgnored {
		cpu += " (*)"
	}
	runs := fmt.Sprint(a.runs)
	if a.problemRuns > 0 {
		runs += fmt.Sprintf(" (%d with problems)", a.problemRuns)
	}
	return []string{cf(a.rps, "%.0f"), fmt.Sprintf("%.0f-%.0f", a.rpsMin, a.rpsMax), p50, p99,
		fmt.Sprint(a.failed), fmt.Sprint(a.non2xx), cpu, cf(a.cgCPU, "%.0f"), mb(a.parentRSS),
		mb(a.childMed) + " / " + mb(a.childMax), kids, abcpu, other, runs}, a.sigchldIgnored
}

func summarize(cfg *config, defs []*serverDef, all []result, problems []string) tables {
	by := map[key][]result{}
	for _, r := range all {
		k := key{r.Server, r.C}
		by[k] = append(by[k], r)
	}
	var t tables
	t.main.header = []string{"server", "c", "req/s", "req/s min-max", "p50 ms", "p99 ms", "failed", "non-2xx",
		"CPU us/conn", "cgroup CPU us/conn", "parent RSS MB", "child RSS p50/peak MB", "max children", "ab CPU %", "other CPU %", "runs"}
	meds := map[key]agg{}
	addRow := func(name string, c int) {
		rs := by[key{name, c}]
		if len(rs) == 0 {
			return
		}
		a := aggregate(rs)
		meds[key{name, c}] = a
		cells, sigchld := a.cells()
		t.sigchldNote = t.sigchldNote || sigchld
		t.main.rows = append(t.main.rows, append([]string{name, fmt.Sprint(c)}, cells...))
	}
	for _, c := range cfg.conc {
		for _, d := range defs {
			addRow(d.Name, c)
		}
		if c == spawnConc {
			for _, s := range spawnRows {
				addRow(s.Name, c)
			}
		}
	}
	if !slices.Contains(cfg.conc, spawnConc) {
		for _, s := range spawnRows {
			addRow(s.Name, spawnConc)
		}
	}
	t.notes(defs, all, problems)

	// Ratios of medians.
	type ratio struct{ label, num, den, what string }
	ratios := []ratio{
		{"hellod-fork / cfork (req/s)", "hellod-fork", "cfork", "rps"},
		{"hellod-exec / cfork (req/s)", "hellod-exec", "cfork", "rps"},
		{"hellod-fork / nethttp (req/s)", "hellod-fork", "nethttp", "rps"},
		{"hellod-exec / nethttp (req/s)", "hellod-exec", "nethttp", "rps"},
		{"hellod-fork / busybox (req/s)", "hellod-fork", "busybox", "rps"},
		{"hellod-exec / spawn-floor (req/s vs spawns/s at c=16)", "hellod-exec", "spawn-floor", "rps"},
		{"hellod-exec / spawn-floor-deps (req/s vs spawns/s at c=16)", "hellod-exec", "spawn-floor-deps", "rps"},
		{"spawn-floor-deps / spawn-floor (what linking costs a start)", "spawn-floor-deps", "spawn-floor", "rps"},
		{"hellod-fork-quiet / hellod-fork (req/s, logging off vs on)", "hellod-fork-quiet", "hellod-fork", "rps"},
		{"hellod-exec-quiet / hellod-exec (req/s, logging off vs on)", "hellod-exec-quiet", "hellod-exec", "rps"},
		{"hellod-fork / cfork (CPU per conn)", "hellod-fork", "cfork", "cpu"},
		{"hellod-exec / spawn-floor (CPU per conn vs per spawn)", "hellod-exec", "spawn-floor", "cpu"},
	}
	t.ratios.header = []string{"ratio"}
	for _, c := range cfg.conc {
		t.ratios.header = append(t.ratios.header, fmt.Sprintf("c=%d", c))
	}
	for _, r := range ratios {
		row := []string{r.label}
		any := false
		for _, c := range cfg.conc {
			n, ok1 := meds[key{r.num, c}]
			dc := c
			if strings.HasPrefix(r.den, "spawn-floor") {
				dc = spawnConc
			}
			d, ok2 := meds[key{r.den, dc}]
			nv, dv := n.rps, d.rps
			if r.what == "cpu" {
				nv, dv = n.cpu, d.cpu
			}
			if !ok1 || !ok2 || nv <= 0 || dv <= 0 {
				row = append(row, "-")
				continue
			}
			any = true
			row = append(row, fmt.Sprintf("%.2f", nv/dv))
		}
		if any {
			t.ratios.rows = append(t.ratios.rows, row)
		}
	}

	t.text = textReport(t, "")
	return t
}

const sigchldNote = "(*) this server ignores SIGCHLD, so the kernel reaps its children and their CPU never reaches cutime/cstime: " +
	"the tree CPU misses them; read the cgroup column."

func markdown(cfg *config, facts [][2]string, startedAt time.Time, t tables) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Benchmark results (%s)\n\n", startedAt.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Command: `%s`\n\n", cfg.cmdline)
	fmt.Fprintf(&b, "%d interleaved rounds; in each round, for each concurrency, every server in turn, each on a fresh process and a fresh loopback port; "+
		"%d requests per run with `ab -r -s 30 -t %d -n %d -c C` (one new connection per request, no keep-alive). "+
		"Medians over rounds; failed and non-2xx are sums over rounds.\n\n", cfg.rounds, cfg.n, cfg.timeLimit, cfg.n)
	b.WriteString(factsMarkdown(facts))
	b.WriteString(t.main.markdown())
	if t.sigchldNote {
		b.WriteString("\n" + sigchldNote + "\n")
	}
	if len(t.ratios.rows) > 0 {
		b.WriteString("\nRatios of medians:\n\n")
		b.WriteString(t.ratios.markdown())
	}
	b.WriteString(listsMarkdown(t))
	b.WriteString("\nColumns: CPU us/conn is utime+stime+cutime+cstime of the server's main PID (itself plus reaped children), delta over the run, " +
		"divided by completed requests; cgroup CPU is the same from a cpuacct cgroup holding the server's tree (also counts children the kernel reaped). " +
		"Parent RSS is VmRSS after the run; child RSS is sampled VmRSS of live children during the run (a fork child's VmRSS includes pages shared with the parent). " +
		"ab CPU % is ab's own CPU over the run's wall time: near 100 % the load generator, not the server, is the limit. " +
		"Other CPU % is the machine's user+system+steal time during the run (irq and softirq left out) not accounted to the server, ab or the harness, as a share of all CPUs: " +
		"anything else running (other tenants, builds, tests); a row whose other CPU is high is noise. " +
		"Spawn-floor rows: req/s is spawns/s, CPU is per spawn (spawner plus child), child RSS is the largest ru_maxrss.\n")
	return b.String()
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machineFacts() [][2]string {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	cstr := func(a [65]int8) string {
		var s []byte
		for _, c := range a {
			if c == 0 {
				break
			}
			s = append(s, byte(c))
		}
		return string(s)
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if kb, err := procfs.MemInfo("MemTotal"); err == nil {
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	readTrim := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return "?"
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
	rev := cmdOut("git", "describe", "--always", "--dirty")
	if rev == "?" {
		rev = "no commit yet"
	}
	return [][2]string{
		{"nproc", fmt.Sprint(runtime.NumCPU())},
		{"CPU", cpu},
		{"memory", mem},
		{"kernel", cstr(u.Release)},
		{"ab (apache2-utils)", cmdOut("dpkg-query", "-W", "-f", "${Version}", "apache2-utils")},
		{"busybox", cmdOut("dpkg-query", "-W", "-f", "${Version}", "busybox")},
		{"Go", runtime.Version()},
		{"gcc", firstLine(cmdOut("gcc", "--version"))},
		{"hellod revision", rev},
		{"net.core.somaxconn", readTrim("/proc/sys/net/core/somaxconn")},
		{"ip_local_port_range", readTrim("/proc/sys/net/ipv4/ip_local_port_range")},
		{"load at start (1/5/15 min)", loadavg()},
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
