package activation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse means a unix socket's file has a live listener: another process
// serves it.
var ErrInUse = errors.New("another process is listening on it")

// staleDialTimeout bounds the connect that tells a live socket from a stale
// one (a live listener with a full backlog may not answer at once).
const staleDialTimeout = 2 * time.Second

// removeStale prepares path for a bind. Nothing there: nothing to do. A unix
// socket that refuses connections (ECONNREFUSED: left by a process that
// died without removing it) is removed. One that accepts, or whose backlog
// is full, has a listener: ErrInUse. Anything else (a regular file, a socket
// that cannot be probed) is left as it is, with an error saying why.
func removeStale(ctx context.Context, path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%s exists and is not a socket: not removing it", path)
	}
	d := net.Dialer{Timeout: staleDialTimeout}
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("%s: %w", path, ErrInUse)
	case errors.Is(err, unix.EAGAIN), errors.Is(err, os.ErrDeadlineExceeded):
		// A full backlog: someone listens but is not accepting.
		return fmt.Errorf("%s: %w (its backlog is full)", path, ErrInUse)
	case !errors.Is(err, unix.ECONNREFUSED):
		return fmt.Errorf("%s exists and cannot be probed (%w): not removing it", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the stale socket %s: %w", path, err)
	}
	return nil
}
