package main

import (
	"os"
	"testing"
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

func TestParseTreeCPU(t *testing.T) {
	// comm with spaces and a ')' in it; utime 100, stime 50, cutime 30, cstime 20 ticks.
	stat := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 100 50 30 20 20 0 1 0 5 1000 100\n"
	got, err := parseTreeCPU([]byte(stat))
	if err != nil || got != 2.0 {
		t.Errorf("parseTreeCPU = %v, %v; want 2.0", got, err)
	}
	if _, err := parseTreeCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Error("parseTreeCPU accepted a short line")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\thellod\nVmPeak:\t  10000 kB\nVmRSS:\t    1234 kB\nRssAnon:\t     512 kB\n"
	if v, err := parseStatusKB([]byte(status), "VmRSS"); err != nil || v != 1234 {
		t.Errorf("VmRSS = %v, %v; want 1234", v, err)
	}
	if _, err := parseStatusKB([]byte(status), "VmSwap"); err == nil {
		t.Error("missing key: no error")
	}
}

func TestProcOfSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := treeCPU(pid); err != nil {
		t.Fatal(err)
	}
	if v, err := statusKB(pid, "VmRSS"); err != nil || v <= 0 {
		t.Errorf("statusKB(self, VmRSS) = %v, %v", v, err)
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
