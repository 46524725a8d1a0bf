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
	limit   int
	mask    netblock.Mask
	episode time.Duration
	log     *slog.Logger

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
	p.refused.Add(1)
	opened := false
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
		p.log.Error(fmt.Sprintf("per-source table full (%d sources): resetting connections from new sources", p.t.Len()))
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

// Refused is how many connections were reset over their source's limit.
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
