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
