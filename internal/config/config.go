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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hellod/hellod/internal/netblock"
)

// Defaults.
const (
	DefaultListen          = ":8000"
	DefaultMaxChildren     = 512
	DefaultHeaderTimeout   = 10 * time.Second
	DefaultChildTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultEvictAfter      = 500 * time.Millisecond
	// DefaultKeepAliveTimeout and DefaultKeepAliveRequests bound a
	// persistent connection's wait for its next request and its responses.
	DefaultKeepAliveTimeout  = 5 * time.Second
	DefaultKeepAliveRequests = 1000
	// MaxKeepAliveRequests bounds --keepalive-requests (a Slot counts in
	// 32 bits).
	MaxKeepAliveRequests = 1 << 30
	DefaultMessage       = "Hello, World!\n"
	// MaxMessage bounds --message so a response stays small.
	MaxMessage = 64 << 10
	// PerSourceHalf is MaxPerSource's default: resolved by Validate to
	// half of MaxChildren (at least 1).
	PerSourceHalf = -1
	// EnvPrefix starts the name of the environment variable of each flag.
	EnvPrefix = "HELLOD_"
)

// Config is hellod's configuration.
type Config struct {
	Listen      []string // addresses to bind when not socket-activated
	MaxChildren int
	// MaxPerSource bounds the children of one source netblock
	// (PerSourceNetBlock) at once; 0: no bound. Validate resolves
	// PerSourceHalf.
	MaxPerSource      int
	PerSourceNetBlock netblock.Mask
	HeaderTimeout     time.Duration
	ChildTimeout      time.Duration
	ShutdownTimeout   time.Duration
	IdleExit          time.Duration // 0: never
	EvictAfter        time.Duration // 0: never evict at the cap
	// KeepAliveTimeout is the longest wait for a persistent connection's
	// next request (0: close after every response); KeepAliveRequests
	// bounds the responses on one connection (>= 1).
	KeepAliveTimeout  time.Duration
	KeepAliveRequests int
	Message           string
	LogLevel          slog.Level
	Child             string // child strategy: "exec" or "fork"
	Sandbox           string // the children's sandbox: "seccomp" or "none"
	Version           bool   // print the version and exit
}

// Strategies lists the accepted values of --child; the first is the default.
var Strategies = []string{"fork", "exec"}

// Sandboxes lists the accepted values of --sandbox; the first is the
// default.
var Sandboxes = []string{"seccomp", "none"}

// ErrHelp is returned by Parse when --help was asked for.
var ErrHelp = flag.ErrHelp

// UsageError is a bad flag, value or variable: exit status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return &UsageError{fmt.Errorf(format, a...)} }

// NewFlagSet returns hellod's flags bound to c, which holds the defaults.
// Each flag is a flag.Func whose function validates the value; its default,
// shown by Usage, is the text of c's field. The first --listen of a flag set
// replaces the list c holds; later ones add to it.
func NewFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("hellod", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	add := func(name, def, usage string, set func(string) error) {
		fs.Func(name, usage, set)
		fs.Lookup(name).DefValue = def
	}
	add("listen", strings.Join(c.Listen, ","), "address to listen on when not socket-activated: "+AddrForms+" (repeatable, or comma-separated; checked by syntax, host names looked up when bound)", listSetter(&c.Listen))
	add("max-children", strconv.Itoa(c.MaxChildren), "most children at once; at the cap no connection is accepted until one exits", intSetter(&c.MaxChildren, 1, 1<<20))
	add("max-per-source", perSourceDef(c.MaxPerSource), "most children at once for one source netblock (--per-source-netblock); over it a connection is reset at once (0: no limit; unix sockets are exempt)", intSetter(&c.MaxPerSource, 0, 1<<20))
	add("per-source-netblock", c.PerSourceNetBlock.String(), "what a source is for --max-per-source: IPv4 prefix length[:IPv6 prefix length]", maskSetter(&c.PerSourceNetBlock))
	add("header-timeout", c.HeaderTimeout.String(), "a request's header section must arrive within this, else 408", durationSetter(&c.HeaderTimeout, false))
	add("child-timeout", c.ChildTimeout.String(), "a child lives at most this long, else it is killed (SIGKILL)", durationSetter(&c.ChildTimeout, false))
	add("shutdown-timeout", c.ShutdownTimeout.String(), "on SIGTERM/SIGINT, how long running children may finish before SIGKILL", durationSetter(&c.ShutdownTimeout, false))
	add("evict-after", c.EvictAfter.String(), "at --max-children, while connections wait, kill children that have run this long, oldest first (0: never)", durationSetter(&c.EvictAfter, true))
	add("keepalive-timeout", c.KeepAliveTimeout.String(), "how long a persistent connection may wait for its next request (0: close after every response)", durationSetter(&c.KeepAliveTimeout, true))
	add("keepalive-requests", strconv.Itoa(c.KeepAliveRequests), "most requests answered on one connection; the last response says Connection: close", intSetter(&c.KeepAliveRequests, 1, MaxKeepAliveRequests))
	add("idle-exit", c.IdleExit.String(), "exit after this long without connections or children (0: never)", durationSetter(&c.IdleExit, true))
	add("message", strconv.Quote(c.Message), "body of the 200 response", messageSetter(&c.Message))
	add("log-level", levelName(c.LogLevel), "debug, info (one line per connection), warn or error", levelSetter(&c.LogLevel))
	add("child", c.Child, "how a child is made: "+strings.Join(Strategies, " or "), choiceSetter(&c.Child, Strategies))
	add("sandbox", c.Sandbox, "each child's system calls: seccomp (an allowlist; any other call kills the child) or none", choiceSetter(&c.Sandbox, Sandboxes))
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	return fs
}

// listSetter appends the comma-separated addresses of each use to *p; the
// first use replaces what *p held (the default, or the environment's list).
func listSetter(p *[]string) func(string) error {
	replaced := false
	return func(v string) error {
		if !replaced {
			*p, replaced = nil, true
		}
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				*p = append(*p, a)
			}
		}
		return nil
	}
}

// intSetter parses an integer from lo to hi.
func intSetter(p *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want an integer from %d to %d", lo, hi)
		}
		*p = n
		return nil
	}
}

// perSourceDef is --max-per-source's default as Usage shows it.
func perSourceDef(n int) string {
	if n == PerSourceHalf {
		return "half of --max-children"
	}
	return strconv.Itoa(n)
}

// maskSetter parses a netblock size such as 32:64 or 24.
func maskSetter(p *netblock.Mask) func(string) error {
	return func(v string) error {
		m, err := netblock.ParseMask(v)
		if err != nil {
			return err
		}
		*p = m
		return nil
	}
}

// durationSetter parses a positive duration, or zero when zeroOK.
func durationSetter(p *time.Duration, zeroOK bool) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("want a duration such as 500ms, 10s or 2m")
		}
		if d < 0 || (d == 0 && !zeroOK) {
			return errors.New("want a positive duration")
		}
		*p = d
		return nil
	}
}

// messageSetter takes a response body: valid UTF-8 of at most MaxMessage bytes.
func messageSetter(p *string) func(string) error {
	return func(v string) error {
		if !utf8.ValidString(v) {
			return errors.New("want valid UTF-8")
		}
		if len(v) > MaxMessage {
			return fmt.Errorf("want at most %d bytes, got %d", MaxMessage, len(v))
		}
		*p = v
		return nil
	}
}

// levels are the names --log-level takes, in any case.
var levels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
}

// levelName is the lower-case name of l, as --log-level takes it.
func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

// levelSetter parses a log level by name.
func levelSetter(p *slog.Level) func(string) error {
	return func(v string) error {
		l, ok := levels[strings.ToLower(v)]
		if !ok {
			return errors.New("want debug, info, warn or error")
		}
		*p = l
		return nil
	}
}

// choiceSetter takes one of choices, exactly.
func choiceSetter(p *string, choices []string) func(string) error {
	return func(v string) error {
		if !slices.Contains(choices, v) {
			return fmt.Errorf("want %s", strings.Join(choices, " or "))
		}
		*p = v
		return nil
	}
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Listen:            []string{DefaultListen},
		MaxChildren:       DefaultMaxChildren,
		MaxPerSource:      PerSourceHalf,
		PerSourceNetBlock: netblock.DefaultMask,
		HeaderTimeout:     DefaultHeaderTimeout,
		ChildTimeout:      DefaultChildTimeout,
		ShutdownTimeout:   DefaultShutdownTimeout,
		EvictAfter:        DefaultEvictAfter,
		KeepAliveTimeout:  DefaultKeepAliveTimeout,
		KeepAliveRequests: DefaultKeepAliveRequests,
		Message:           DefaultMessage,
		LogLevel:          slog.LevelInfo,
		Child:             Strategies[0],
		Sandbox:           Sandboxes[0],
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
	// The environment through a flag set of its own, so that the first
	// --listen of the command line replaces the environment's list.
	var envErr error
	NewFlagSet(&c).VisitAll(func(f *flag.Flag) {
		if envErr != nil || f.Name == "version" {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(name); ok {
			if err := f.Value.Set(v); err != nil {
				envErr = usagef("invalid value %q for %s: %w", v, name, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	fs := NewFlagSet(&c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, ErrHelp
		}
		return c, &UsageError{flagError(fs, err)}
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q (hellod takes only flags)", fs.Arg(0))
	}
	return c, c.Validate()
}

// The flag package's errors name a flag with one dash ("-max-children");
// hellod's flags are written with two.
var (
	flagUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagValue     = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([a-z][a-z-]*): `)
	flagArgument  = regexp.MustCompile(`^flag needs an argument: -([a-z][a-z-]*)$`)
)

// flagError rewrites an error of fs.Parse with "--flag"; an unknown flag
// names the nearest known one when it is a likely misspelling.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := flagUndefined.FindStringSubmatch(msg); m != nil {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		near := nearest(m[1], names)
		if editDistance(m[1], near) <= max(2, len(m[1])/3) {
			return fmt.Errorf("unknown flag --%s (did you mean --%s?)", m[1], near)
		}
		return fmt.Errorf("unknown flag --%s", m[1])
	}
	if m := flagValue.FindStringSubmatchIndex(msg); m != nil {
		return fmt.Errorf("invalid value %s for --%s: %s", msg[m[2]:m[3]], msg[m[4]:m[5]], msg[m[1]:])
	}
	if m := flagArgument.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s needs a value", m[1])
	}
	return err
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
	if c.MaxPerSource == PerSourceHalf {
		c.MaxPerSource = max(1, c.MaxChildren/2)
	}
	if c.MaxPerSource > c.MaxChildren {
		return usagef("--max-per-source (%d) exceeds --max-children (%d): it would never refuse (0 turns it off)", c.MaxPerSource, c.MaxChildren)
	}
	if c.HeaderTimeout > c.ChildTimeout {
		return usagef("--header-timeout (%s) must not exceed --child-timeout (%s)", c.HeaderTimeout, c.ChildTimeout)
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
