// Command harness drives bench/run.sh: it starts each server on a free
// loopback port, loads it with ab (one new connection per request), samples
// its process tree from /proc, and prints and writes the tables. Run it
// through bench/run.sh, which installs ab and busybox and builds the servers.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
}

func main() {
	var cfg config
	var conc, only, leakChild string
	flag.StringVar(&cfg.binDir, "bindir", "", "directory holding the built binaries (hellod, cfork, nethttp, spawnfloor, nop, nopdeps)")
	flag.StringVar(&cfg.workDir, "workdir", "", "scratch directory for logs, ab output and busybox's document root")
	flag.StringVar(&cfg.out, "out", "", "Markdown file to write the results to")
	flag.StringVar(&cfg.mode, "mode", "bench", "bench or leak")
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
	flag.Parse()
	if cfg.binDir == "" || cfg.workDir == "" {
		fmt.Fprintln(os.Stderr, "harness: -bindir and -workdir are required (run bench/run.sh)")
		os.Exit(2)
	}
	for _, s := range strings.Split(conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			fmt.Fprintf(os.Stderr, "harness: bad -conc %q\n", conc)
			os.Exit(2)
		}
		cfg.conc = append(cfg.conc, c)
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

	var err error
	switch cfg.mode {
	case "bench":
		err = runBench(&cfg)
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

// servers lists the rows in the order they run within a (round, concurrency).
func servers(cfg *config) []*serverDef {
	bin := func(name string) string { return filepath.Join(cfg.binDir, name) }
	hellod := func(child, level string) func(string) []string {
		return func(addr string) []string {
			return []string{bin("hellod"), "--listen", addr, "--log-level", level,
				"--max-children", strconv.Itoa(cfg.maxChildren), "--child", child}
		}
	}
	www := filepath.Join(cfg.workDir, "www")
	defs := []*serverDef{
		{Name: "hellod-fork", Desc: "hellod --child fork --log-level info", Argv: hellod("fork", "info")},
		{Name: "hellod-fork-quiet", Desc: "hellod --child fork --log-level error (logging off)", Argv: hellod("fork", "error")},
		{Name: "hellod-exec", Desc: "hellod --child exec --log-level info", Argv: hellod("exec", "info")},
		{Name: "hellod-exec-quiet", Desc: "hellod --child exec --log-level error (logging off)", Argv: hellod("exec", "error"), Optional: true},
		{Name: "cfork", Desc: "C fork() per connection, no exec (bench/cfork)", Argv: func(addr string) []string {
			return []string{bin("cfork"), addr}
		}},
		{Name: "nethttp", Desc: "Go net/http, one process (bench/nethttp)", Argv: func(addr string) []string {
			return []string{bin("nethttp"), "-listen", addr}
		}},
		{Name: "busybox", Desc: "busybox httpd -f, static file, fork per connection", Argv: func(addr string) []string {
			_, port, _ := strings.Cut(addr, ":")
			return []string{"busybox", "httpd", "-f", "-p", "127.0.0.1:" + port, "-h", www}
		}},
	}
	if _, err := os.Stat(bin("hellod")); err != nil {
		for _, d := range defs[:4] {
			d.Missing = "hellod did not build (go build ./cmd/hellod failed)"
		}
	}
	var out []*serverDef
	for _, d := range defs {
		if (cfg.only == nil && !d.Optional) || cfg.only[d.Name] {
			out = append(out, d)
		}
	}
	return out
}

// The spawn-floor rows: a bare Go binary started and reaped at c=16.
var spawnRows = []struct{ Name, Desc, Bin, Env string }{
	{"spawn-floor", "bare Go binary (func main(){}), StartProcess+Wait4, c=16, empty env", "nop", ""},
	{"spawn-floor-gmp1", "same with GOMAXPROCS=1 in the child's env", "nop", "GOMAXPROCS=1"},
	{"spawn-floor-deps", "bare Go binary linking what hellod links (go-systemd activation, net/http), GOMAXPROCS=1", "nopdeps", "GOMAXPROCS=1"},
}

const spawnConc = 16
