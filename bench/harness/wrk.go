package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrk mode: every server under wrk, with keep-alive (wrk's default: HTTP/1.1
// persistent connections, one request in flight per connection) and with
// `Connection: close` (a new connection per request), at each -wrk-conc.

var (
	reWRKRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in [\d.]+\w+, `)
	reWRKSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reWRKNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	reWRKRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	reWRKPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$`)
)

// wrkArgs builds the bounded wrk command line: -d bounds the load, the
// outer timeout kills wrk if it hangs anyway.
func wrkArgs(threads, c, d int, load, url string) []string {
	args := []string{"timeout", "-k", "5", strconv.Itoa(d + 20),
		"wrk", "-t", strconv.Itoa(min(threads, c)), "-c", strconv.Itoa(c), "-d", strconv.Itoa(d) + "s", "--latency"}
	if load == "close" {
		args = append(args, "-H", "Connection: close")
	}
	return append(args, url)
}

// wrkLoad is one wrk load, reported as ab's is: Failed holds wrk's socket
// errors (connect, read, write, timeout), Non2xx its "Non-2xx or 3xx
// responses".
func wrkLoad(cfg *config, load string) loadFunc {
	return func(c int, url string) abResult { return runWRK(wrkArgs(cfg.wrkThreads, c, cfg.wrkD, load, url)) }
}

func runWRK(argv []string) abResult {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return abResult{Err: err.Error(), P50: -1, P99: -1}
	}
	register(cmd.Process.Pid)
	r, problems := loadDone(cmd, start, cmd.Wait(), "wrk")
	parseWRK(stdout.String(), &r)
	if r.RPS == 0 {
		problems = append(problems, "no wrk summary")
	}
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() && len(problems) < 6 {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			problems = append(problems, "wrk: "+l)
		}
	}
	r.Err = strings.Join(problems, "; ")
	return r
}

// parseWRK fills r from wrk 4's report (run with --latency). The socket
// errors and non-2xx lines appear only when they are not zero.
func parseWRK(out string, r *abResult) {
	r.P50, r.P99 = -1, -1
	if m := reWRKRequests.FindStringSubmatch(out); m != nil {
		r.Complete, _ = strconv.Atoi(m[1])
	}
	r.FailDetail = "(connect 0, read 0, write 0, timeout 0)"
	if m := reWRKSocket.FindStringSubmatch(out); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			r.Failed += n
		}
		r.FailDetail = fmt.Sprintf("(connect %s, read %s, write %s, timeout %s)", m[1], m[2], m[3], m[4])
	}
	if m := reWRKNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := reWRKRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	unit := map[string]float64{"us": 1e-3, "ms": 1, "s": 1e3, "m": 60e3, "h": 3600e3}
	for _, m := range reWRKPct.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		if m[1] == "50" {
			r.P50 = v * unit[m[3]]
		} else {
			r.P99 = v * unit[m[3]]
		}
	}
}

// runWRKBench runs wrk mode: for each round, for each load, for each
// concurrency, every server in turn on a fresh process and port.
func runWRKBench(cfg *config) error {
	logDir, err := prepare(cfg)
	if err != nil {
		return err
	}
	facts := machineFacts()
	for _, p := range []string{"wrk", "nginx-light", "apache2"} {
		facts = append(facts, [2]string{p, cmdOut("dpkg-query", "-W", "-f", "${Version}", p)})
	}
	facts = append(facts, [2]string{"hellod extra flags", strings.Join(cfg.hellodArgs, " ")})
	startedAt := time.Now()
	defs := servers(cfg)
	problems := preflight(defs, logDir)
	fmt.Printf("== %d rounds x loads %v x connections %v x %d s per run (wrk -t %d), fresh server process per run\n",
		cfg.rounds, cfg.wrkLoads, cfg.wrkConc, cfg.wrkD, cfg.wrkThreads)
	var all []result
	for round := 1; round <= cfg.rounds; round++ {
		for _, load := range cfg.wrkLoads {
			for _, c := range cfg.wrkConc {
				for _, d := range defs {
					if d.Missing != "" {
						continue
					}
					r := measure(cfg, d, c, round, logDir, load, wrkLoad(cfg, load))
					all = append(all, r)
					printResult(r)
				}
			}
		}
	}
	facts = append(facts, [2]string{"load at end (1/5/15 min)", loadavg()})
	facts = append(facts, [2]string{"duration", time.Since(startedAt).Round(time.Second).String()})
	t := summarizeWRK(cfg, defs, all, problems)
	fmt.Println()
	fmt.Print(t.text)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(markdownWRK(cfg, facts, startedAt, t)), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nMarkdown written to %s\n", cfg.out)
	}
	return nil
}
