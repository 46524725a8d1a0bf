package server

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/netblock"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// episodeMin is the least time a source's episode at --max-per-source
// lasts: its first refusal opens it with a line, and the first exit that
// brings the source below its limit at least episodeMin later (or its last
// child's exit) closes it with the count. A source that flaps at its limit
// (a child exits, the next connection takes its place) stays in one
// episode: at most two lines per source per episodeMin. At most
// MaxChildren/MaxPerSource sources can be at their limit at once, so the
// lines stay few whoever connects.
const episodeMin = 10 * time.Second

// perSource bounds the children of each source netblock (--max-per-source,
// --per-source-netblock). A connection over its source's limit is reset at
// once by the accept loop, before it takes a slot; unix-socket peers have
// no source and are exempt. Nil when off.
type perSource struct {
	limit int
	mask  netblock.Mask
	// finishing counts a source's children done with their connection
	// but not reaped yet (Server.finishing).
	finishing func(netblock.Key) int
	episode   time.Duration
	log       *slog.Logger

	mu sync.Mutex
	t  *netblock.Table // a key per source with a running child: at most MaxChildren

	refused    atomic.Int64
	fullLogged atomic.Bool
}

func newPerSource(o *Options) (*perSource, error) {
	if o.MaxPerSource <= 0 {
		return nil, nil
	}
	t, err := netblock.New(o.MaxChildren)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ep := o.perSourceEpisode
	if ep <= 0 {
		ep = episodeMin
	}
	return &perSource{limit: o.MaxPerSource, mask: o.PerSourceNetBlock, episode: ep, log: o.Logger, t: t}, nil
}

// admit reports whether the connection from peer may have a child, and
// counts it against its source until leave if so. It allocates nothing but
// an episode's first line.
func (p *perSource) admit(peer netip.AddrPort) bool {
	if p == nil || !peer.IsValid() {
		return true
	}
	k := p.mask.Key(peer.Addr())
	p.mu.Lock()
	r, e := p.t.Acquire(k, p.limit)
	if r == netblock.Admitted {
		p.mu.Unlock()
		return true
	}
	if r == netblock.AtLimit {
		// Children that are done with their connection do not count: a
		// client that reads its response's end and connects again at
		// once finds the previous child exiting, not yet reaped.
		// (Again with n = 0: one may have left meanwhile.)
		p.mu.Unlock()
		n := p.finishing(k)
		p.mu.Lock()
		if r, e = p.t.Acquire(k, p.limit+n); r == netblock.Admitted {
			p.mu.Unlock()
			return true
		}
	}
	p.refused.Add(1)
	opened, sources := false, p.t.Len()
	if r == netblock.AtLimit {
		e.Refused++
		if e.Since == 0 {
			e.Since, opened = time.Now().UnixNano(), true
		}
	}
	p.mu.Unlock()
	switch {
	case opened:
		src := p.mask.Prefix(peer.Addr()).String()
		p.log.Warn(fmt.Sprintf("source %s reached its limit of %d children (--max-per-source); resetting its new connections until one exits", src, p.limit),
			"SOURCE", src, "MAX_PER_SOURCE", p.limit)
	case r == netblock.Full && p.fullLogged.CompareAndSwap(false, true):
		// Cannot happen: the table holds a source per running child.
		p.log.Error(fmt.Sprintf("per-source table full (%d sources): resetting connections from new sources", sources))
	}
	return false
}

// leave counts out a child of peer's source (admitted by admit), and
// closes the source's episode at its limit if it is over (see episodeMin).
func (p *perSource) leave(peer netip.AddrPort) {
	if p == nil || !peer.IsValid() {
		return
	}
	k := p.mask.Key(peer.Addr())
	p.mu.Lock()
	e := p.t.Release(k)
	var since, refused int64
	if e != nil && e.Since != 0 {
		if now := time.Now().UnixNano(); e.Count == 0 || e.Count < p.limit && now-e.Since >= int64(p.episode) {
			since, refused = e.Since, e.Refused
			e.Since, e.Refused = 0, 0
		}
	}
	p.mu.Unlock()
	if since != 0 {
		src := p.mask.Prefix(peer.Addr()).String()
		d := time.Since(time.Unix(0, since)).Round(time.Millisecond)
		p.log.Info(fmt.Sprintf("source %s below its limit of %d children again: %d connections reset in %s", src, p.limit, refused, d),
			"SOURCE", src, "MAX_PER_SOURCE", p.limit, "REFUSED", refused)
	}
}

// reasonSourceIdle is the kill reason of an idle keep-alive child closed
// for its own source's new connection. Never written.
var reasonSourceIdle = "per-source limit: idle keep-alive closed for its source's new connection"

// finishing counts source k's children that are done with their
// connection (lingering, closing, done) but not reaped yet. If there is
// none, it closes one of the source's idle keep-alive children (claimed
// first, so that nothing is lost, as the evictor does) and counts it: at
// its limit, a source's new connection takes the place of its own idle
// one. It reads the slot of every running child: only for a connection at
// its source's limit.
func (s *Server) finishing(k netblock.Key) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, idlePID := 0, 0
	var idle *child
	for pid, c := range s.children {
		if !c.remote.IsValid() || s.ps.mask.Key(c.remote.Addr()) != k {
			continue
		}
		switch s.board.Slot(c.slot).State() {
		case scoreboard.Lingering, scoreboard.Closing, scoreboard.Done:
			n++
		case scoreboard.Idle:
			if idle == nil && c.killed.Load() == nil {
				idle, idlePID = c, pid
			}
		}
	}
	if n == 0 && idle != nil && s.claimLocked(idle, idlePID, &reasonSourceIdle) {
		n = 1
	}
	return n
}

// refusedCount is how many connections were reset over their source's limit.
func (p *perSource) refusedCount() int64 {
	if p == nil {
		return 0
	}
	return p.refused.Load()
}

// resetLinger makes close send a reset (SO_LINGER 0). Never written.
var resetLinger = unix.Linger{Onoff: 1, Linger: 0}

// refuse closes a connection over its source's limit at once, unread and
// unanswered, with a TCP reset: the client learns at once, and no socket
// lingers in FIN-WAIT for a client that never closes. (A 503 would need
// the request read first: closing a socket with unread data resets it
// anyway, and the reset would often destroy the 503 before the client
// read it; the parent does not read.)
func refuse(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &resetLinger) // fails only for a non-TCP socket: then a plain close
	linux.Close(fd)
}
