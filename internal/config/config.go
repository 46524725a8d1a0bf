// Package config reads hellod's settings from its command line and from
// HELLOD_* environment variables (flags win), and validates them; see
// hellod(8).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults.
const (
	DefaultListen          = ":8000"
	DefaultMaxChildren     = 512
	DefaultHeaderTimeout   = 10 * time.Second
	DefaultChildTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultEvictAfter      = 500 * time.Millisecond
	DefaultMessage         = "Hello, World!\n"
	// MaxMessage bounds --message so a response stays small.
	MaxMessage = 64 << 10
	// EnvPrefix starts the name of the environment variable of each flag.
	EnvPrefix = "HELLOD_"
)

// Config is hellod's configuration.
type Config struct {
	Listen          []string // addresses to bind when not socket-activated
	MaxChildren     int
	HeaderTimeout   time.Duration
	ChildTimeout    time.Duration
	ShutdownTimeout time.Duration
	IdleExit        time.Duration // 0: never
	EvictAfter      time.Duration // 0: never evict at the cap
	Message         string
	LogLevel        slog.Level
	Child           string // child strategy: "exec" or "fork"
	Version         bool   // print the version and exit
}

// Strategies lists the accepted values of --child; the first is the default.
var Strategies = []string{"fork", "exec"}

// ErrHelp is returned by Parse when --help was asked for.
var ErrHelp = flag.ErrHelp

// UsageError is a bad flag, value or variable: exit status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return &UsageError{fmt.Errorf(format, a...)} }

// listFlag is a repeatable flag; a comma-separated value gives several.
type listFlag struct {
	vals *[]string
	set  bool
}

func (l *listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	return strings.Join(*l.vals, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set { // the first use replaces the default or the environment
		*l.vals = nil
		l.set = true
	}
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*l.vals = append(*l.vals, a)
		}
	}
	return nil
}

// levelFlag parses a log level by name.
type levelFlag struct{ l *slog.Level }

func (f levelFlag) String() string {
	if f.l == nil {
		return "info"
	}
	return strings.ToLower(f.l.String())
}

func (f levelFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "debug":
		*f.l = slog.LevelDebug
	case "info":
		*f.l = slog.LevelInfo
	case "warn", "warning":
		*f.l = slog.LevelWarn
	case "error":
		*f.l = slog.LevelError
	default:
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// durationFlag rejects negative durations.
type durationFlag struct {
	d        *time.Duration
	zeroOK   bool
	zeroNote string
}

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("want a duration such as 500ms, 10s or 2m")
	}
	if d < 0 || (d == 0 && !f.zeroOK) {
		return errors.New("want a positive duration")
	}
	*f.d = d
	return nil
}

// intFlag parses a positive int with a clear error.
type intFlag struct {
	n        *int
	min, max int
}

func (f intFlag) String() string {
	if f.n == nil {
		return ""
	}
	return strconv.Itoa(*f.n)
}

func (f intFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < f.min || n > f.max {
		return fmt.Errorf("want an integer from %d to %d", f.min, f.max)
	}
	*f.n = n
	return nil
}

type choiceFlag struct {
	s       *string
	choices []string
}

func (f choiceFlag) String() string {
	if f.s == nil {
		return ""
	}
	return *f.s
}

func (f choiceFlag) Set(v string) error {
	for _, c := range f.choices {
		if v == c {
			*f.s = v
			return nil
		}
	}
	return fmt.Errorf("want %s", strings.Join(f.choices, " or "))
}

type messageFlag struct{ s *string }

func (f messageFlag) String() string {
	if f.s == nil {
		return ""
	}
	return strconv.Quote(*f.s)
}

func (f messageFlag) Set(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("want valid UTF-8")
	}
	if len(v) > MaxMessage {
		return fmt.Errorf("want at most %d bytes, got %d", MaxMessage, len(v))
	}
	*f.s = v
	return nil
}

// NewFlagSet returns hellod's flags bound to c, which holds the defaults.
func NewFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("hellod", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&listFlag{vals: &c.Listen}, "listen", "address to listen on when not socket-activated: HOST:PORT or unix:/PATH (repeatable, or comma-separated)")
	fs.Var(intFlag{&c.MaxChildren, 1, 1 << 20}, "max-children", "most children at once; at the cap no connection is accepted until one exits")
	fs.Var(durationFlag{d: &c.HeaderTimeout}, "header-timeout", "a request's header section must arrive within this, else 408")
	fs.Var(durationFlag{d: &c.ChildTimeout}, "child-timeout", "a child lives at most this long, else it is killed (SIGKILL)")
	fs.Var(durationFlag{d: &c.ShutdownTimeout}, "shutdown-timeout", "on SIGTERM/SIGINT, how long running children may finish before SIGKILL")
	fs.Var(durationFlag{d: &c.EvictAfter, zeroOK: true}, "evict-after", "at --max-children, while connections wait, kill children that have run this long, oldest first (0: never)")
	fs.Var(durationFlag{d: &c.IdleExit, zeroOK: true}, "idle-exit", "exit after this long without connections or children (0: never)")
	fs.Var(messageFlag{&c.Message}, "message", "body of the 200 response")
	fs.Var(levelFlag{&c.LogLevel}, "log-level", "debug, info (one line per connection), warn or error")
	fs.Var(choiceFlag{&c.Child, Strategies}, "child", "how a child is made: "+strings.Join(Strategies, " or "))
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	return fs
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Listen:          []string{DefaultListen},
		MaxChildren:     DefaultMaxChildren,
		HeaderTimeout:   DefaultHeaderTimeout,
		ChildTimeout:    DefaultChildTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
		EvictAfter:      DefaultEvictAfter,
		Message:         DefaultMessage,
		LogLevel:        slog.LevelInfo,
		Child:           Strategies[0],
	}
}

// EnvName is the environment variable read for flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse reads the environment (through lookup), then args, and validates
// the result. Errors are *UsageError, or ErrHelp for -h/--help.
func Parse(args []string, lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	fs := NewFlagSet(&c)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil || f.Name == "version" {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			envErr = usagef("invalid value %q for %s: %v", v, name, err)
		}
		if l, ok := f.Value.(*listFlag); ok {
			l.set = false // a flag replaces the environment's list
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, ErrHelp
		}
		return c, &UsageError{err}
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q (hellod takes only flags)", fs.Arg(0))
	}
	return c, c.Validate()
}

// Validate checks the settings against each other.
func (c *Config) Validate() error {
	if len(c.Listen) == 0 {
		return usagef("--listen: want at least one address")
	}
	for _, a := range c.Listen {
		if err := checkAddr(a); err != nil {
			return usagef("--listen %q: %v", a, err)
		}
	}
	if c.HeaderTimeout > c.ChildTimeout {
		return usagef("--header-timeout (%s) must not exceed --child-timeout (%s)", c.HeaderTimeout, c.ChildTimeout)
	}
	return nil
}

// checkAddr validates a --listen address.
func checkAddr(a string) error {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		if path == "" || !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
			return errors.New("want unix:/absolute/path or unix:@abstract")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return errors.New("want HOST:PORT, :PORT or unix:/PATH")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return nil
}

// Usage writes the help text.
func Usage(w io.Writer) {
	c := Default()
	fs := NewFlagSet(&c)
	fmt.Fprintf(w, `Usage: hellod [flags]

hellod answers every HTTP connection with "Hello, World!" from a child
process of its own, which the daemon starts, times and reaps. Under systemd
it serves the sockets passed by socket activation (LISTEN_FDS); started by
hand it listens on --listen. Every flag can also be set by the environment
variable named after it, e.g. HELLOD_MAX_CHILDREN=64; flags win.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if f.Name == "version" {
			def = ""
		}
		fmt.Fprintf(w, "  --%s", f.Name)
		if f.Name != "version" {
			fmt.Fprintf(w, " VALUE")
		}
		fmt.Fprintf(w, "\n      %s", f.Usage)
		if def != "" && def != "0s" {
			fmt.Fprintf(w, " (default %s)", def)
		}
		if f.Name != "version" {
			fmt.Fprintf(w, " [%s]", EnvName(f.Name))
		}
		fmt.Fprintln(w)
	})
}
