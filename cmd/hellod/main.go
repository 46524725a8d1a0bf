// Command hellod is a socket-activated, process-per-connection HTTP server:
// each connection is answered "Hello, World!" by a child process of its
// own, which hellod starts, times and reaps. See hellod(8) and README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/cgroup"
	"github.com/hellod/hellod/internal/config"
	"github.com/hellod/hellod/internal/execchild"
	"github.com/hellod/hellod/internal/forkchild"
	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/logging"
	"github.com/hellod/hellod/internal/notify"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/sandbox"
	"github.com/hellod/hellod/internal/scoreboard"
	"github.com/hellod/hellod/internal/server"
	"golang.org/x/sys/unix"
)

// version is stamped by the build: -ldflags "-X main.version=1.2.3".
var version = ""

func main() {
	// Child mode first, before anything else runs: the child's entry
	// point never returns.
	if len(os.Args) > 1 && os.Args[1] == execchild.Arg {
		execchild.Main(forkchild.ServeOnThread)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args, os.LookupEnv)
	switch {
	case errors.Is(err, config.ErrHelp):
		config.Usage(stdout)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "hellod: %v (see hellod --help)\n", err)
		return exitUsage
	case cfg.Version:
		fmt.Fprintf(stdout, "hellod %s\n", Version())
		return exitOK
	}
	// A small heap keeps forks cheap: fork(2) copies the page tables of
	// every resident anonymous page, and the children make the parent's
	// later writes copy-on-write. The live heap is tiny, so collect often
	// (unless GOGC says otherwise).
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(25)
	}
	// One P: the parent's work is a few goroutines that mostly wait in
	// system calls, and a fork from a process whose threads run on several
	// CPUs pays TLB-shootdown interrupts to all of them for every
	// copy-on-write page. Measured here: about +50 % forks per second.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
	log := logging.New(stderr, cfg.LogLevel)
	for _, w := range config.UnknownEnv(os.Environ()) {
		log.Warn(w) // a misspelt setting is ignored: say so, once
	}
	if err := serve(cfg, log); err != nil {
		log.Error(err.Error())
		return exitRuntime
	}
	return exitOK
}

func serve(cfg config.Config, log *slog.Logger) error {
	// Signals first, so a SIGTERM during start-up is not lost.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)
	hup := make(chan os.Signal, 1) // SIGHUP: logged, see below
	signal.Notify(hup, unix.SIGHUP)
	defer signal.Stop(hup)

	// Descriptors inherited from whoever started us must not reach the
	// children: mark them all close-on-exec (passed sockets already are).
	if err := linux.CloseOnExecFrom(3); err != nil {
		return err
	}

	mode := "socket-activated"
	ls, err := activation.FromSystemd() // the only call: LISTEN_* is cleared
	if errors.Is(err, activation.ErrNotActivated) {
		mode = "self-bound"
		ls, err = activation.Bind(context.Background(), cfg.Listen)
	}
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()

	// The task budget (tasks.go): hellod's threads made, --max-children
	// capped to what pids.max leaves.
	perChild := forkChildTasks
	if cfg.Child == "exec" {
		perChild = execChildTasks
	}
	var tasks cgroup.Tasks
	cfg.MaxChildren, tasks = taskBudget(cfg.MaxChildren, perChild, log)

	// The scoreboard: a slot per child, which the children write and the
	// server reads.
	board, err := scoreboard.New(cfg.MaxChildren)
	if err != nil {
		return err
	}
	defer board.Close()
	// The children's sandbox: refuse to start without it rather than
	// serve unconfined (qemu-user, say, has no seccomp for its guest).
	sandboxed := cfg.Sandbox == "seccomp"
	if sandboxed {
		if err := sandbox.Supported(); err != nil {
			return fmt.Errorf("sandbox: %w; start with --sandbox=none (HELLOD_SANDBOX=none) to serve without one", err)
		}
	}
	strategy, err := newStrategy(cfg.Child, respond.Settings{
		Message:           cfg.Message,
		HeaderTimeout:     cfg.HeaderTimeout,
		ChildTimeout:      cfg.ChildTimeout,
		KeepAliveTimeout:  cfg.KeepAliveTimeout,
		KeepAliveRequests: cfg.KeepAliveRequests,
		Sandbox:           sandboxed,
	}, board)
	if err != nil {
		return err
	}
	defer strategy.Close()
	if perChild > 1 && tasks.Max > 0 && tasks.Current >= 0 {
		strategy = &budgetStarter{strategy: strategy, max: tasks.Max, perChild: perChild,
			current: filepath.Join(tasks.Where, "pids.current")}
	}

	rp := reaper.Start(func(err error) { log.Error("reaper: " + err.Error()) })
	defer rp.Stop()

	watchdog, err := notify.WatchdogInterval()
	if err != nil {
		log.Warn(err.Error())
	}
	srv, err := server.New(server.Options{
		MaxChildren:       cfg.MaxChildren,
		ChildTimeout:      cfg.ChildTimeout,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		IdleExit:          cfg.IdleExit,
		EvictAfter:        cfg.EvictAfter,
		MaxPerSource:      cfg.MaxPerSource,
		PerSourceNetBlock: cfg.PerSourceNetBlock,
		WatchdogInterval:  watchdog,
		Logger:            log,
		Notifier:          notify.New(),
		Starter:           strategy,
		Board:             board,
		Reaper:            rp,
	})
	if err != nil {
		return err
	}

	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
		if l.Addr != l.Name {
			names[i] += " (" + l.Addr + ")"
		}
	}
	perSource := "no per-source limit"
	if cfg.MaxPerSource > 0 {
		perSource = fmt.Sprintf("%d per source (/%d, IPv6 /%d)", cfg.MaxPerSource, cfg.PerSourceNetBlock.V4, cfg.PerSourceNetBlock.V6)
	}
	log.Info(fmt.Sprintf("hellod %s %s, listening on %s, %s children (sandbox: %s), at most %d at once, %s",
		Version(), mode, strings.Join(names, ", "), strategy.Name(), cfg.Sandbox, cfg.MaxChildren, perSource),
		"MODE", mode, "LISTEN", strings.Join(names, " "), "CHILD_STRATEGY", strategy.Name(), "SANDBOX", cfg.Sandbox)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// SIGUSR1: one line with the counters (busy and idle children from the
	// scoreboard) and the parent's own figures.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, unix.SIGUSR1)
	defer signal.Stop(usr1)
	// SIGHUP: the configuration is read once, at start; a reload would
	// have to restart the children anyway. Say so rather than die of the
	// signal's default action (which would orphan every child).
	go func() {
		for range hup {
			log.Warn("SIGHUP: the configuration is read at start only; restart hellod to apply a change (systemctl restart hellod); still serving",
				"SIGNAL", "SIGHUP")
		}
	}()
	go func() {
		for range usr1 {
			st := srv.Stats()
			g := runtime.NumGoroutine()
			log.Info(fmt.Sprintf("stats: %d active children (%d busy, %d idle), %d connections served, %d requests, %d children killed (%d evicted), %d idle closed, %d waiting connections dropped, %d refused by per-source limit, %d failed starts, %d goroutines",
				st.Active, st.Busy, st.Idle, st.Served, st.Requests, st.Killed, st.Evicted, st.IdleClosed, st.Dropped, st.Refused, st.StartFailures, g),
				"ACTIVE", st.Active, "BUSY", st.Busy, "IDLE", st.Idle, "SERVED", st.Served, "REQUESTS", st.Requests,
				"KILLED", st.Killed, "EVICTED", st.Evicted, "IDLE_CLOSED", st.IdleClosed,
				"DROPPED", st.Dropped, "REFUSED", st.Refused, "START_FAILURES", st.StartFailures, "GOROUTINES", g)
		}
	}()
	go func() {
		sig := <-sigs
		log.Info(fmt.Sprintf("%s: stopping; running children may finish within %s (send another signal to exit at once)",
			unix.SignalName(sig.(unix.Signal)), cfg.ShutdownTimeout))
		cancel()
		sig = <-sigs
		log.Warn(fmt.Sprintf("second signal (%s): killing %d children and exiting now",
			unix.SignalName(sig.(unix.Signal)), srv.Stats().Active))
		srv.KillAll("second signal")
		for _, l := range ls {
			l.Close() // a self-bound unix socket's file goes too
		}
		os.Exit(exitRuntime)
	}()

	why, err := srv.Serve(ctx, ls)
	st := srv.Stats()
	log.Info(fmt.Sprintf("stopped (%s): %d connections served, %d children killed, %d requests served", why, st.Served, st.Killed, st.Requests))
	return err
}

// strategy starts the children (--child) on their scoreboard slots:
// *forkchild.Fork or *execchild.Exec.
type strategy interface {
	server.Starter
	Close() error
}

// newStrategy returns the strategy called name (see config.Strategies),
// whose children record their state in board. The fork strategy refuses
// to start in a build whose fork child does not work (forkchild.Probe),
// with one line saying why.
func newStrategy(name string, s respond.Settings, board *scoreboard.Board) (strategy, error) {
	switch name {
	case "exec":
		return execchild.New(s, os.Environ(), board)
	case "fork":
		return forkchild.NewFork(s, board)
	}
	return nil, fmt.Errorf("unknown child strategy %q", name)
}

// Version is the stamped version, else the module's build information.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}
