// Package notify tells systemd about hellod's state with sd_notify(3)
// (https://www.freedesktop.org/software/systemd/man/sd_notify.html):
// readiness, a status line, watchdog keep-alives and stopping.
package notify

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages to $NOTIFY_SOCKET. The zero value
// is not usable; use New.
type Notifier struct {
	send func(state string) (bool, error)
}

// New returns a Notifier for $NOTIFY_SOCKET. The variable is left in the
// environment (later messages need it); children must not inherit it, so
// whoever starts them strips it.
func New() *Notifier {
	return &Notifier{send: func(state string) (bool, error) { return daemon.SdNotify(false, state) }}
}

// Ready says the service is ready, with a first status line.
func (n *Notifier) Ready(status string) error {
	return n.do(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// Status updates the status line shown by systemctl status.
func (n *Notifier) Status(status string) error { return n.do("STATUS=" + status) }

// Stopping says the service is shutting down.
func (n *Notifier) Stopping(status string) error {
	return n.do(daemon.SdNotifyStopping + "\nSTATUS=" + status)
}

// Watchdog sends a keep-alive.
func (n *Notifier) Watchdog() error { return n.do(daemon.SdNotifyWatchdog) }

func (n *Notifier) do(state string) error {
	_, err := n.send(state)
	return err
}

// WatchdogInterval is how often to send keep-alives: half of WATCHDOG_USEC
// when the watchdog is enabled for this process, else 0. Malformed
// WATCHDOG_USEC or WATCHDOG_PID values give an error (and 0).
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("watchdog disabled: %w", err)
	}
	return d / 2, nil
}
