package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// abResult is what one ab run reported.
type abResult struct {
	Complete    int
	Failed      int
	FailDetail  string // "(Connect: 0, Receive: 0, Length: 0, Exceptions: 0)"
	Non2xx      int
	RPS         float64
	P50, P99    float64 // ms, from ab's CSV percentile table
	DocLen      int
	ABCPU       float64 // seconds of CPU used by ab itself
	Wall        float64 // seconds
	Err         string  // ab's exit problem or stderr error lines, "" when clean
	TimedOut    bool    // killed by the outer timeout
	progressErr error
}

var (
	reComplete = regexp.MustCompile(`(?m)^Complete requests:\s+(\d+)`)
	reFailed   = regexp.MustCompile(`(?m)^Failed requests:\s+(\d+)(?:\s*\n\s+(\(Connect.*\)))?`)
	reNon2xx   = regexp.MustCompile(`(?m)^Non-2xx responses:\s+(\d+)`)
	reRPS      = regexp.MustCompile(`(?m)^Requests per second:\s+([\d.]+)`)
	reDocLen   = regexp.MustCompile(`(?m)^Document Length:\s+(\d+)`)
	reDone     = regexp.MustCompile(`^Completed (\d+) requests`)
)

// abArgs builds the bounded ab command line: -t (time bound) comes before -n
// because ab's -t resets the request count to 50000; the outer timeout kills
// ab if it hangs anyway.
func abArgs(n, c, timeLimit int, csv, url string) []string {
	args := []string{"timeout", "-k", "5", strconv.Itoa(timeLimit + 20),
		"ab", "-r", "-s", "30", "-t", strconv.Itoa(timeLimit), "-n", strconv.Itoa(n), "-c", strconv.Itoa(c)}
	if csv != "" {
		args = append(args, "-e", csv)
	}
	return append(args, url)
}

// runAB runs ab against url. progress, when not nil, is called for each
// "Completed N requests" line ab prints to stderr (every 10 %).
func runAB(n, c, timeLimit int, url, workDir string, progress func(done int)) abResult {
	csv := filepath.Join(workDir, "ab-percentiles.csv")
	_ = os.Remove(csv)
	argv := abArgs(n, c, timeLimit, csv, url)
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return abResult{Err: err.Error()}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return abResult{Err: err.Error()}
	}
	register(cmd.Process.Pid)
	var errLines []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			if m := reDone.FindStringSubmatch(line); m != nil {
				if progress != nil {
					d, _ := strconv.Atoi(m[1])
					progress(d)
				}
				continue
			}
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "Benchmarking ") || strings.HasPrefix(line, "Finished ") {
				continue
			}
			if len(errLines) < 5 {
				errLines = append(errLines, line)
			}
		}
		_, _ = io.Copy(io.Discard, errPipe)
	}()
	wg.Wait()
	r, problems := loadDone(cmd, start, cmd.Wait(), "ab")
	parseAB(stdout.String(), &r)
	r.P50, r.P99 = -1, -1
	if b, err := os.ReadFile(csv); err == nil {
		r.P50, r.P99 = parsePercentiles(string(b))
	}
	if r.Complete == 0 && r.RPS == 0 {
		problems = append(problems, "no ab summary")
	}
	if r.Complete > 0 && r.Complete < n {
		problems = append(problems, fmt.Sprintf("only %d of %d requests completed (ab -t bound hit?)", r.Complete, n))
	}
	problems = append(problems, errLines...)
	r.Err = strings.Join(problems, "; ")
	return r
}

// parseAB fills r's counters from ab's summary on stdout.
func parseAB(out string, r *abResult) {
	if m := reComplete.FindStringSubmatch(out); m != nil {
		r.Complete, _ = strconv.Atoi(m[1])
	}
	if m := reFailed.FindStringSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(m[1])
		r.FailDetail = m[2]
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reDocLen.FindStringSubmatch(out); m != nil {
		r.DocLen, _ = strconv.Atoi(m[1])
	}
}

// parsePercentiles returns p50 and p99 in ms from ab's -e CSV output, which
// has a header and one "percent,ms" row per percent from 0 to 100; -1 when
// a row is missing.
func parsePercentiles(csv string) (p50, p99 float64) {
	p50, p99 = -1, -1
	for _, line := range strings.Split(csv, "\n") {
		pct, ms, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(ms, 64)
		if err != nil {
			continue
		}
		switch pct {
		case "50":
			p50 = v
		case "99":
			p99 = v
		}
	}
	return p50, p99
}

// loadDone records how a load generator run under timeout(1) ended: its
// wall time, its CPU (timeout's rusage includes the tool's, which timeout
// waited for) and, as problems, a kill by the timeout or another failure.
func loadDone(cmd *exec.Cmd, start time.Time, werr error, tool string) (abResult, []string) {
	unregister(cmd.Process.Pid)
	r := abResult{Wall: time.Since(start).Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.ABCPU = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	var problems []string
	if werr != nil {
		if ee, ok := werr.(*exec.ExitError); ok && ee.ExitCode() == 124 {
			r.TimedOut = true
			problems = append(problems, tool+" killed by timeout")
		} else {
			problems = append(problems, tool+": "+werr.Error())
		}
	}
	return r, problems
}
