package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"

	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// addrString formats a peer for logs; "unix" for a unix-socket peer.
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "unix"
	}
	return a.String()
}

// logExit writes child c's exit line, and counts it as served if a
// response went out. It runs once per connection.
func (s *Server) logExit(c *child, e reaper.Exit) {
	code := e.Code()
	o, known := response.FromExitCode(code)
	signaled := e.Status.Signaled()
	served := !signaled && known && o.Status() != 0
	if served {
		s.served.Add(1)
	}
	level := slog.LevelInfo
	switch {
	case signaled:
		level = slog.LevelWarn
	case !known || o == response.Failed || o == response.Usage:
		level = slog.LevelError
	}
	if !s.log.Enabled(context.Background(), level) {
		return // build nothing: this runs once per connection
	}
	dur := e.Time.Sub(c.start)
	ms := strconv.FormatFloat(float64(dur.Microseconds())/1000, 'f', 1, 64)
	remote := addrString(c.remote)
	// The common line (a served request) is built with appends and typed
	// attributes: it is written once per connection.
	var buf [128]byte
	attrs := [6]slog.Attr{slog.Int("CHILD_PID", c.pid), slog.String("REMOTE_ADDR", remote),
		slog.Int("EXIT_STATUS", code), slog.String("DURATION_MS", ms)}
	n := 4
	var msg string
	switch {
	case signaled:
		by := ""
		if why := c.killed.Load(); why != nil {
			by = " (sent by hellod: " + *why + ")"
			attrs[n] = slog.String("REASON", *why)
			n++
		}
		msg = fmt.Sprintf("child %d for %s killed by signal %s%s after %s ms (exit status %d)", c.pid, remote,
			unix.SignalName(e.Status.Signal()), by, ms, code)
	case served:
		attrs[n] = slog.Int("HTTP_STATUS", o.Status())
		n++
		m := append(buf[:0], "child "...)
		m = strconv.AppendInt(m, int64(c.pid), 10)
		m = append(m, " served "...)
		m = append(m, remote...)
		m = append(m, ' ')
		if method := o.Method(); method != "" {
			m = append(append(m, method...), ' ')
		}
		m = append(m, "-> "...)
		m = strconv.AppendInt(m, int64(o.Status()), 10)
		m = append(append(append(m, " in "...), ms...), " ms"...)
		msg = string(m)
	case known && (o == response.ClientGone || o == response.WriteFailed):
		msg = fmt.Sprintf("child %d for %s: %s, after %s ms", c.pid, remote, o, ms)
	default:
		msg = fmt.Sprintf("child %d for %s failed with exit status %d after %s ms (see its message above)", c.pid, remote, code, ms)
	}
	s.log.LogAttrs(context.Background(), level, msg, attrs[:n]...)
}
