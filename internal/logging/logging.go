// Package logging makes hellod's log/slog logger: native journal entries
// with structured fields when stderr is connected to journald
// (systemd.journal-fields(7),
// https://www.freedesktop.org/software/systemd/man/systemd.journal-fields.html),
// readable lines on stderr otherwise.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// New returns the logger for level. Under journald (JOURNAL_STREAM names
// stderr) entries go to the journal with their attributes as fields;
// otherwise text lines go to stderr.
func New(stderr io.Writer, level slog.Leveler) *slog.Logger {
	text := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if ok, err := journal.StderrIsJournalStream(); err == nil && ok && journal.Enabled() {
		return slog.New(&journalHandler{level: level, send: journal.Send, fallback: text})
	}
	return slog.New(text)
}

// sendFunc is journal.Send.
type sendFunc func(msg string, pri journal.Priority, vars map[string]string) error

// journalHandler writes entries with the native journal protocol. Attribute
// keys become field names: upper case, [A-Z0-9_], no leading underscore.
type journalHandler struct {
	level    slog.Leveler
	send     sendFunc
	fallback slog.Handler // used when the journal refuses an entry
	attrs    []slog.Attr
	prefix   string // group prefix
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	vars := make(map[string]string, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		addField(vars, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addField(vars, h.prefix, a)
		return true
	})
	if err := h.send(r.Message, priority(r.Level), vars); err != nil {
		return h.fallback.Handle(ctx, r)
	}
	return nil
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	n.fallback = h.fallback.WithAttrs(as)
	return &n
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix = h.prefix + name + "_"
	n.fallback = h.fallback.WithGroup(name)
	return &n
}

func addField(vars map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			addField(vars, prefix+a.Key+"_", g)
		}
		return
	}
	if name := FieldName(prefix + a.Key); name != "" {
		vars[name] = v.String()
	}
}

// FieldName turns an attribute key into a valid journal field name, or ""
// if nothing usable is left.
func FieldName(key string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(key) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), "_")
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return ""
	}
	switch name { // set by the journal or by Send itself
	case "MESSAGE", "PRIORITY":
		return "HELLOD_" + name
	}
	return name
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
