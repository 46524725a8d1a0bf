// Command harness drives bench/run.sh: it starts each server on a free
// loopback port, loads it with ab (one new connection per request) or, in
// wrk mode, with wrk (keep-alive and Connection: close), samples its process
// tree from /proc, and prints and writes the tables. Run it through
// bench/run.sh, which installs the tools and builds the servers.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	binDir, workDir, out string
	rounds, n            int
	conc                 []int
	timeLimit            int
	spawnN               int
	maxChildren          int
	only                 map[string]bool
	sampleEvery          time.Duration
	cgroups              bool
	mode                 string
	leakN, leakC, leakT  int
	leakChild            []string
	cmdline              string
	keepLogs             bool
	hellodArgs           []string // added to every hellod command line
	wrkD, wrkThreads     int      // wrk -d (seconds) and -t
	wrkConc              []int
	wrkLoads             []string // "keep-alive", "close"
}

func main() {
	var cfg config
	var conc, only, leakChild, hellodArgs, wrkConc, wrkLoads string
	flag.StringVar(&cfg.binDir, "bindir", "", "directory holding the built binaries (hellod, cfork, nethttp, spawnfloor, nop, nopdeps)")
	flag.StringVar(&cfg.workDir, "workdir", "", "scratch directory for logs, ab output and busybox's document root")
	flag.StringVar(&cfg.out, "out", "", "Markdown file to write the results to")
	flag.StringVar(&cfg.mode, "mode", "bench", "bench (ab), wrk or leak")
	flag.IntVar(&cfg.rounds, "rounds", 5, "interleaved rounds")
	flag.IntVar(&cfg.n, "n", 10000, "requests per (round, server, concurrency)")
	flag.StringVar(&conc, "conc", "1,16,128", "comma-separated ab concurrencies")
	flag.IntVar(&cfg.timeLimit, "t", 60, "seconds bound on each ab run (ab -t); the outer timeout adds 20 s")
	flag.IntVar(&cfg.spawnN, "spawn-n", 0, "spawns per spawn-floor measurement (default: -n)")
	flag.IntVar(&cfg.maxChildren, "max-children", 1024, "hellod --max-children")
	flag.StringVar(&only, "only", "", "comma-separated server names to run (default: all)")
	flag.DurationVar(&cfg.sampleEvery, "sample", 10*time.Millisecond, "children RSS sampling interval")
	flag.BoolVar(&cfg.cgroups, "cgroups", true, "also account CPU with a cgroup per server, when writable")
	flag.IntVar(&cfg.leakN, "leak-n", 100000, "leak mode: connections")
	flag.IntVar(&cfg.leakC, "leak-c", 16, "leak mode: concurrency")
	flag.IntVar(&cfg.leakT, "leak-t", 900, "leak mode: seconds bound on the ab run (ab -t)")
	flag.StringVar(&leakChild, "leak-child", "fork,exec", "leak mode: hellod --child strategies to check")
	flag.StringVar(&cfg.cmdline, "cmdline", "", "command line to record in the results")
	flag.BoolVar(&cfg.keepLogs, "keep-logs", false, "keep every server log, not only those with findings")
	flag.StringVar(&hellodArgs, "hellod-args", "", "space-separated flags added to every hellod command line")
	flag.IntVar(&cfg.wrkD, "wrk-d", 5, "wrk mode: seconds per run (wrk -d); the outer timeout adds 20 s")
	flag.IntVar(&cfg.wrkThreads, "wrk-t", 2, "wrk mode: wrk threads (wrk -t)")
	flag.StringVar(&wrkConc, "wrk-conc", "16,128", "wrk mode: comma-separated connection counts (wrk -c)")
	flag.StringVar(&wrkLoads, "wrk-loads", "keep-alive,close", "wrk mode: keep-alive (wrk's default) and/or close (-H 'Connection: close')")
	flag.Parse()
	cfg.hellodArgs = strings.Fields(hellodArgs)
	if cfg.binDir == "" || cfg.workDir == "" {
		fmt.Fprintln(os.Stderr, "harness: -bindir and -workdir are required (run bench/run.sh)")
		os.Exit(2)
	}
	var err error
	if cfg.conc, err = parseConc(conc); err != nil {
		fmt.Fprintln(os.Stderr, "harness: -conc:", err)
		os.Exit(2)
	}
	if cfg.wrkConc, err = parseConc(wrkConc); err != nil {
		fmt.Fprintln(os.Stderr, "harness: -wrk-conc:", err)
		os.Exit(2)
	}
	for _, l := range strings.Split(wrkLoads, ",") {
		if l = strings.TrimSpace(l); l != "keep-alive" && l != "close" {
			fmt.Fprintf(os.Stderr, "harness: -wrk-loads: %q is neither keep-alive nor close\n", l)
			os.Exit(2)
		}
		cfg.wrkLoads = append(cfg.wrkLoads, l)
	}
	if cfg.wrkD < 1 || cfg.wrkThreads < 1 {
		fmt.Fprintln(os.Stderr, "harness: -wrk-d and -wrk-t must be at least 1")
		os.Exit(2)
	}
	if cfg.spawnN == 0 {
		cfg.spawnN = cfg.n
	}
	if only != "" {
		cfg.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			cfg.only[strings.TrimSpace(s)] = true
		}
	}
	for _, s := range strings.Split(leakChild, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.leakChild = append(cfg.leakChild, s)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nharness: %v: stopping the processes it started\n", s)
		killLive()
		os.Exit(130)
	}()

	switch cfg.mode {
	case "bench":
		err = runBench(&cfg)
	case "wrk":
		err = runWRKBench(&cfg)
	case "leak":
		err = runLeak(&cfg)
	default:
		err = fmt.Errorf("unknown -mode %q", cfg.mode)
	}
	killLive()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

// defaultRows are the rows each mode runs when -only does not name them; the
// others run only when named.
var defaultRows = map[string][]string{
	"bench": {"hellod-fork", "hellod-fork-quiet", "hellod-exec", "cfork", "nethttp", "busybox"},
	"wrk":   {"hellod-fork", "hellod-exec", "cfork", "cfork-ka", "nethttp", "nginx", "apache"},
}

// servers lists the rows in the order they run within a (round, concurrency).
func servers(cfg *config) []*serverDef {
	bin := func(name string) string { return filepath.Join(cfg.binDir, name) }
	hellod := func(child, level string, extra ...string) func(string) []string {
		return func(addr string) []string {
			argv := []string{bin("hellod"), "--listen", addr, "--log-level", level,
				"--max-children", strconv.Itoa(cfg.maxChildren), "--child", child}
			return append(append(argv, cfg.hellodArgs...), extra...)
		}
	}
	www := filepath.Join(cfg.workDir, "www")
	defs := []*serverDef{
		{Name: "hellod-fork", Desc: "hellod --child fork --log-level info", Argv: hellod("fork", "info")},
		{Name: "hellod-fork-quiet", Desc: "hellod --child fork --log-level error (logging off)", Argv: hellod("fork", "error")},
		{Name: "hellod-exec", Desc: "hellod --child exec --log-level info", Argv: hellod("exec", "info")},
		{Name: "hellod-exec-quiet", Desc: "hellod --child exec --log-level error (logging off)", Argv: hellod("exec", "error")},
		// The sandbox's cost: name these next to hellod-fork or hellod-exec
		// in ONLY, an A/B of the same binary in interleaved rounds.
		{Name: "hellod-fork-nosandbox", Desc: "hellod --child fork --log-level info --sandbox none", Argv: hellod("fork", "info", "--sandbox", "none")},
		{Name: "hellod-exec-nosandbox", Desc: "hellod --child exec --log-level info --sandbox none", Argv: hellod("exec", "info", "--sandbox", "none")},
		{Name: "cfork", Desc: "C fork() per connection, no exec, one request per child (bench/cfork)", Argv: func(addr string) []string {
			return []string{bin("cfork"), addr}
		}},
		{Name: "cfork-ka", Desc: "C fork() per connection, the child loops read -> answer until the client closes (bench/cfork -k)", Argv: func(addr string) []string {
			return []string{bin("cfork"), "-k", addr}
		}},
		{Name: "nethttp", Desc: "Go net/http, one process (bench/nethttp)", Argv: func(addr string) []string {
			return []string{bin("nethttp"), "-listen", addr}
		}},
		nginxDef(cfg),
		apacheDef(cfg),
		{Name: "busybox", Desc: "busybox httpd -f, static file, fork per connection", Argv: func(addr string) []string {
			_, port, _ := strings.Cut(addr, ":")
			return []string{"busybox", "httpd", "-f", "-p", "127.0.0.1:" + port, "-h", www}
		}},
	}
	if _, err := os.Stat(bin("hellod")); err != nil {
		for _, d := range defs {
			if strings.HasPrefix(d.Name, "hellod") {
				d.Missing = "hellod did not build (go build ./cmd/hellod failed)"
			}
		}
	}
	var out []*serverDef
	for _, d := range defs {
		if (cfg.only == nil && slices.Contains(defaultRows[cfg.mode], d.Name)) || cfg.only[d.Name] {
			out = append(out, d)
		}
	}
	return out
}

// parseConc parses a comma-separated list of concurrencies.
func parseConc(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("bad concurrency %q in %q", f, s)
		}
		out = append(out, c)
	}
	return out, nil
}

// The spawn-floor rows: a bare Go binary started and reaped at c=16.
var spawnRows = []struct{ Name, Desc, Bin, Env string }{
	{"spawn-floor", "bare Go binary (func main(){}), StartProcess+Wait4, c=16, empty env", "nop", ""},
	{"spawn-floor-gmp1", "same with GOMAXPROCS=1 in the child's env", "nop", "GOMAXPROCS=1"},
	{"spawn-floor-deps", "bare Go binary linking what hellod links (go-systemd activation, net/http), GOMAXPROCS=1", "nopdeps", "GOMAXPROCS=1"},
}

const spawnConc = 16
