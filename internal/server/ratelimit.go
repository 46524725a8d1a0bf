package server

import (
	"strconv"
	"sync"
	"time"
)

// logEvery bounds how often a line that can repeat at machine speed (the
// cap reached and left, accept failures, failed starts) is written: at
// most once per logEvery per kind, the next one saying how many were not
// written. At the cap, the "not accepting"/"accepting" pair used to flap
// every few milliseconds (6.4 MB of log in 9 s at --max-children 16).
const logEvery = time.Second

// episodes rate-limits the lines of an episode that begins and ends (the
// cap reached, then left; accept failing, then recovered): an episode's
// begin line is written if the last written one is logEvery old, else the
// episode is counted as suppressed; its end line is written if and only if
// its begin line was, so that the log never shows a state the server is
// not in for longer than logEvery (see due). Safe for concurrent use; it
// allocates nothing.
type episodes struct {
	mu         sync.Mutex
	last       time.Time // when the last begin line was written
	suppressed int       // episodes begun since then whose lines were not written
	logged     bool      // the current episode's begin line was written
	started    time.Time // the current episode's start
}

// begin starts an episode at now. It reports whether to write its line,
// and how many episodes were suppressed since the last line written (which
// begin resets).
func (e *episodes) begin(now time.Time) (write bool, suppressed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = now
	if !e.last.IsZero() && now.Sub(e.last) < logEvery {
		e.suppressed++
		e.logged = false
		return false, 0
	}
	return e.writeLocked(now), e.takeLocked()
}

// due reports, for an episode whose line was suppressed, how long until
// its line may be written after all (the episode lasts: a line saying so
// is then wanted). 0 once it may.
func (e *episodes) due(now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return max(0, e.last.Add(logEvery).Sub(now))
}

// late marks the current, still running, episode's begin line as written
// at now (after due) and returns how many earlier episodes were
// suppressed and how long this one has lasted.
func (e *episodes) late(now time.Time) (suppressed int, lasted time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.suppressed-- // this one is written after all
	e.writeLocked(now)
	return e.takeLocked(), now.Sub(e.started)
}

// end ends the current episode at now: it reports whether to write its end
// line (its begin line was written) and how long it lasted.
func (e *episodes) end(now time.Time) (write bool, lasted time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	write, e.logged = e.logged, false
	return write, now.Sub(e.started)
}

func (e *episodes) writeLocked(now time.Time) bool {
	e.last, e.logged = now, true
	return true
}

func (e *episodes) takeLocked() int {
	n := max(0, e.suppressed)
	e.suppressed = 0
	return n
}

// lines rate-limits a line of one kind (a failed start): at most one per
// logEvery. Safe for concurrent use; it allocates nothing.
type lines struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to write a line now and how many were suppressed
// since the last one written.
func (l *lines) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

// similar is the suffix of a line after n were suppressed: "" or
// " (12 similar suppressed)".
func similar(n int) string {
	if n == 0 {
		return ""
	}
	return " (" + strconv.Itoa(n) + " similar suppressed)"
}
