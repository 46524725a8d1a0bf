package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// addrString formats a peer for logs; "unix" for a unix-socket peer.
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "unix"
	}
	return a.String()
}

// logExit writes child c's exit line from its exit e and from what its
// slot recorded (v, read before the slot was released). It runs once per
// connection. A connection that got responses is logged as
//
//	child 1234 served 127.0.0.1:4711: 57 requests (55x 200, 2x 405) in 1.2 s
//
// with REQUESTS=, RESPONSES= (that summary) and HTTP_STATUS= (the last
// one); one that got none keeps the lines of a child without a response.
func (s *Server) logExit(c *child, e reaper.Exit, v *scoreboard.Snapshot) {
	code := e.Code()
	o, known := response.FromExitCode(code)
	signaled := e.Status.Signaled()
	served := v.Requests > 0
	failed := !signaled && (!known || o == response.Failed || o == response.Usage || o == response.Unsandboxed)
	level := slog.LevelInfo
	switch {
	case signaled && !c.claimed.Load(): // a claimed idle child lost nothing
		level = slog.LevelWarn
	case failed:
		level = slog.LevelError
	}
	if !s.log.Enabled(context.Background(), level) {
		return // build nothing: this runs once per connection
	}
	dur := e.Time.Sub(c.start)
	ms := strconv.FormatFloat(float64(dur.Microseconds())/1000, 'f', 1, 64)
	remote := addrString(c.remote)
	// The common line (a served connection) is built with appends and
	// typed attributes: it is written once per connection.
	var buf [256]byte
	attrs := [9]slog.Attr{slog.Int("CHILD_PID", c.pid), slog.String("REMOTE_ADDR", remote),
		slog.Int("EXIT_STATUS", code), slog.String("DURATION_MS", ms)}
	n := 4
	by := ""
	if why := c.killed.Load(); why != nil {
		attrs[n] = slog.String("REASON", *why)
		n++
		by = " (sent by hellod: " + *why + ")"
	}
	var msg string
	switch {
	case served:
		m := append(buf[:0], "child "...)
		m = strconv.AppendInt(m, int64(c.pid), 10)
		m = append(append(append(m, " served "...), remote...), ": "...)
		m = strconv.AppendInt(m, int64(v.Requests), 10)
		m = append(m, " request"...)
		if v.Requests != 1 {
			m = append(m, 's')
		}
		m = append(m, " ("...)
		from := len(m)
		m = appendSummary(m, &v.Counts)
		to := len(m)
		if to == from { // no count with a status: drop the parentheses
			m = m[:from-2]
			from, to = from-2, from-2
		} else {
			m = append(m, ')')
		}
		m = appendDuration(append(m, " in "...), dur)
		switch {
		case signaled:
			m = append(append(append(append(m, ", then killed by signal "...), unix.SignalName(e.Status.Signal())...), sigNote(e.Status.Signal())...), by...)
		case known && o == response.WriteFailed:
			m = append(m, ", then a response could not be written"...)
		case failed:
			m = append(m, ", then failed with exit status "...)
			m = append(strconv.AppendInt(m, int64(code), 10), " (see its message above)"...)
		}
		msg = string(m)
		attrs[n] = slog.Int("REQUESTS", v.Requests)
		attrs[n+1] = slog.String("RESPONSES", msg[from:to])
		attrs[n+2] = slog.Int("HTTP_STATUS", response.Outcome(v.Last).Status())
		n += 3
	case signaled:
		msg = fmt.Sprintf("child %d for %s killed by signal %s%s%s after %s ms (exit status %d)", c.pid, remote,
			unix.SignalName(e.Status.Signal()), sigNote(e.Status.Signal()), by, ms, code)
	case known && o == response.Unsandboxed:
		msg = fmt.Sprintf("child %d for %s could not install its sandbox (seccomp) and served nothing, after %s ms", c.pid, remote, ms)
	case known && (o == response.ClientGone || o == response.WriteFailed):
		msg = fmt.Sprintf("child %d for %s: %s, after %s ms", c.pid, remote, o, ms)
	case known && o == response.Usage && v.State == scoreboard.Starting:
		// An exec child's runtime that cannot start exits 2 too, before
		// it can say anything (execchild.StderrFD).
		msg = fmt.Sprintf("child %d for %s failed with exit status %d after %s ms before serving (see its message above; without one, its Go runtime could not start: out of tasks or memory?)", c.pid, remote, code, ms)
	default:
		msg = fmt.Sprintf("child %d for %s failed with exit status %d after %s ms (see its message above)", c.pid, remote, code, ms)
	}
	s.log.LogAttrs(context.Background(), level, msg, attrs[:n]...)
}

// sigNote explains a signal that has one meaning for a child: SIGSYS is
// its seccomp filter's kill (internal/sandbox), a system call outside the
// allowlist.
func sigNote(sig unix.Signal) string {
	if sig == unix.SIGSYS {
		return " (seccomp: forbidden system call)"
	}
	return ""
}

// statusCount is how many responses had one HTTP status.
type statusCount struct{ status, n int }

// appendSummary appends the responses counted per outcome in counts as
// "55x 200, 2x 405": per HTTP status (GET and HEAD 200s together), most
// frequent first, then by status. It allocates nothing.
func appendSummary(m []byte, counts *[scoreboard.Outcomes]uint32) []byte {
	var sc [scoreboard.Outcomes]statusCount
	k := 0
	for o, cnt := range counts {
		st := response.Outcome(o).Status()
		if cnt == 0 || st == 0 {
			continue
		}
		j := 0
		for j < k && sc[j].status != st {
			j++
		}
		if j == k {
			sc[k] = statusCount{status: st}
			k++
		}
		sc[j].n += int(cnt)
	}
	for i := 1; i < k; i++ { // insertion sort: a handful of entries
		for j := i; j > 0 && (sc[j].n > sc[j-1].n || sc[j].n == sc[j-1].n && sc[j].status < sc[j-1].status); j-- {
			sc[j], sc[j-1] = sc[j-1], sc[j]
		}
	}
	for i := range k {
		if i > 0 {
			m = append(m, ", "...)
		}
		m = strconv.AppendInt(m, int64(sc[i].n), 10)
		m = append(m, "x "...)
		m = strconv.AppendInt(m, int64(sc[i].status), 10)
	}
	return m
}

// appendDuration appends d as "0.9 ms" below a second, else as "1.2 s".
func appendDuration(m []byte, d time.Duration) []byte {
	if d < time.Second {
		m = strconv.AppendFloat(m, float64(d.Microseconds())/1000, 'f', 1, 64)
		return append(m, " ms"...)
	}
	m = strconv.AppendFloat(m, d.Seconds(), 'f', 1, 64)
	return append(m, " s"...)
}
