package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Output of ab 2.3 (apache2-utils 2.4.71) against a server that failed some requests.
const abOutput = `This is ApacheBench, Version 2.3 <$Revision$>

Server Software:        
Server Hostname:        127.0.0.1
Server Port:            39311

Document Path:          /
Document Length:        14 bytes

Concurrency Level:      128
Time taken for tests:   63.271 seconds
Complete requests:      10000
Failed requests:        25
   (Connect: 0, Receive: 25, Length: 0, Exceptions: 0)
Non-2xx responses:      3
Total transferred:      1510000 bytes
HTML transferred:       140000 bytes
Requests per second:    158.05 [#/sec] (mean)
Time per request:       809.856 [ms] (mean)

Percentage of the requests served within a certain time (ms)
  50%      3
  99%   1431
 100%  61029 (longest request)
`

func TestParseAB(t *testing.T) {
	var r abResult
	parseAB(abOutput, &r)
	want := abResult{Complete: 10000, Failed: 25, FailDetail: "(Connect: 0, Receive: 25, Length: 0, Exceptions: 0)",
		Non2xx: 3, RPS: 158.05, DocLen: 14}
	if r != want {
		t.Errorf("parseAB:\n got %+v\nwant %+v", r, want)
	}
	var clean abResult
	parseAB("Complete requests:      5\nFailed requests:        0\nRequests per second:    1.5 [#/sec] (mean)\n", &clean)
	if clean.Complete != 5 || clean.Failed != 0 || clean.FailDetail != "" || clean.Non2xx != 0 || clean.RPS != 1.5 {
		t.Errorf("parseAB clean: got %+v", clean)
	}
}

func TestParsePercentiles(t *testing.T) {
	csv := "Percentage served,Time in ms\n0,0.101\n50,0.250\n98,1.000\n99,1.466\n100,2.000\n"
	if p50, p99 := parsePercentiles(csv); p50 != 0.25 || p99 != 1.466 {
		t.Errorf("parsePercentiles = %v, %v; want 0.25, 1.466", p50, p99)
	}
	if p50, p99 := parsePercentiles(""); p50 != -1 || p99 != -1 {
		t.Errorf("parsePercentiles(empty) = %v, %v; want -1, -1", p50, p99)
	}
}

func TestProcOfSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := treeCPU(pid); err != nil {
		t.Fatal(err)
	}
	if n := fdCount(pid); n < 3 {
		t.Errorf("fdCount(self) = %d", n)
	}
	if n := threadCount(pid); n < 1 {
		t.Errorf("threadCount(self) = %d", n)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, -1}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v; want %v", c.in, got, c.want)
		}
	}
}

// TestMeasureAndSummarize runs one small ab load and one short wrk load
// against bench/cfork -k through measure, as bench and wrk modes do, and
// checks the summaries: a row per load, no failure, the ratios' columns.
func TestMeasureAndSummarize(t *testing.T) {
	for _, tool := range []string{"gcc", "ab", "wrk", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("no " + tool)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("gcc", "-O2", "-o", filepath.Join(dir, "cfork"), "../cfork/cfork.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := &config{binDir: dir, workDir: dir, mode: "wrk", rounds: 1, n: 200, conc: []int{4}, timeLimit: 20,
		sampleEvery: 10 * time.Millisecond, wrkD: 1, wrkThreads: 1, wrkConc: []int{4}, wrkLoads: []string{"keep-alive"}}
	cfg.only = map[string]bool{"cfork-ka": true}
	defs := servers(cfg)
	if len(defs) != 1 || defs[0].Name != "cfork-ka" {
		t.Fatalf("servers(only cfork-ka): want [cfork-ka], got %d rows", len(defs))
	}
	ab := measure(cfg, defs[0], 4, 1, logDir, "", abLoad(cfg))
	if ab.AB.Complete != 200 || len(ab.Problems) > 0 {
		t.Errorf("ab: want 200 requests and no problem, got %d, %v", ab.AB.Complete, ab.Problems)
	}
	w := measure(cfg, defs[0], 4, 1, logDir, "keep-alive", wrkLoad(cfg, "keep-alive"))
	if w.AB.Complete < 100 || w.AB.Failed+w.AB.Non2xx > 0 || len(w.Problems) > 0 {
		t.Errorf("wrk keep-alive: want >= 100 requests, no error, no problem, got %d, %d errors, %d non-2xx, %v",
			w.AB.Complete, w.AB.Failed, w.AB.Non2xx, w.Problems)
	}
	if w.Conns > 0 && float64(w.AB.Complete)/float64(w.Conns) < 10 {
		t.Errorf("wrk keep-alive: want the connections kept (>= 10 requests each), got %d requests on %d connections", w.AB.Complete, w.Conns)
	}
	s := summarize(cfg, defs, []result{ab}, nil)
	if len(s.main.rows) != 1 || s.main.rows[0][0] != "cfork-ka" || len(s.main.rows[0]) != len(s.main.header) {
		t.Errorf("summarize: want one cfork-ka row as wide as the header, got %q", s.main.rows)
	}
	sw := summarizeWRK(cfg, defs, []result{w}, nil)
	if len(sw.main.rows) != 1 || sw.main.rows[0][1] != "keep-alive" || len(sw.main.rows[0]) != len(sw.main.header) {
		t.Errorf("summarizeWRK: want one keep-alive row as wide as the header, got %q", sw.main.rows)
	}
	if md := markdownWRK(cfg, nil, time.Now(), sw); !strings.Contains(md, "| cfork-ka | keep-alive | 4 |") {
		t.Errorf("markdownWRK: want the cfork-ka row, got:\n%s", md)
	}
}
