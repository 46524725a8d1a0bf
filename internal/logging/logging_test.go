package logging

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
)

func TestFieldName(t *testing.T) {
	for i, c := range []struct{ in, want string }{
		{"CHILD_PID", "CHILD_PID"},
		{"child_pid", "CHILD_PID"},
		{"remote-addr", "REMOTE_ADDR"},
		{"_private", "PRIVATE"},
		{"err", "ERR"},
		{"9lives", ""},
		{"", ""},
		{"MESSAGE", "HELLOD_MESSAGE"},
		{"PRIORITY", "HELLOD_PRIORITY"},
		{strings.Repeat("A", 80), strings.Repeat("A", 64)},
	} {
		if got := FieldName(c.in); got != c.want {
			t.Errorf("#%d: FieldName(%q): want %q, got %q", i, c.in, c.want, got)
		}
	}
}

type sent struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

func TestJournalHandler(t *testing.T) {
	var got []sent
	var fallback strings.Builder
	h := &journalHandler{
		level: slog.LevelInfo,
		send: func(msg string, pri journal.Priority, vars map[string]string) error {
			got = append(got, sent{msg, pri, vars})
			return nil
		},
		fallback: slog.NewTextHandler(&fallback, nil),
	}
	log := slog.New(h).With("MODE", "self-bound")
	log.Info("child 12 served 127.0.0.1:1 GET -> 200 in 0.9 ms", "CHILD_PID", 12, "REMOTE_ADDR", "127.0.0.1:1",
		"EXIT_STATUS", 0, slog.Group("g", "k", "v"))
	log.Debug("not at info")
	log.Warn("w")
	log.Error("e", "err", errors.New("boom"))
	if len(got) != 3 {
		t.Fatalf("want 3 entries (debug filtered), got %d", len(got))
	}
	want := map[string]string{"CHILD_PID": "12", "REMOTE_ADDR": "127.0.0.1:1", "EXIT_STATUS": "0", "MODE": "self-bound", "G_K": "v"}
	for k, v := range want {
		if got[0].vars[k] != v {
			t.Errorf("want field %s=%q, got %q (all: %v)", k, v, got[0].vars[k], got[0].vars)
		}
	}
	if got[0].msg != "child 12 served 127.0.0.1:1 GET -> 200 in 0.9 ms" || got[0].pri != journal.PriInfo {
		t.Errorf("want the message at PriInfo, got %q at %d", got[0].msg, got[0].pri)
	}
	if got[1].pri != journal.PriWarning || got[2].pri != journal.PriErr || got[2].vars["ERR"] != "boom" {
		t.Errorf("want warning and error priorities and ERR=boom, got %+v", got[1:])
	}
	if fallback.Len() != 0 {
		t.Errorf("want nothing on stderr while the journal takes entries, got %q", fallback.String())
	}
}

func TestJournalHandlerFallsBackToStderr(t *testing.T) {
	var fallback strings.Builder
	h := &journalHandler{
		level:    slog.LevelInfo,
		send:     func(string, journal.Priority, map[string]string) error { return errors.New("journal gone") },
		fallback: slog.NewTextHandler(&fallback, nil),
	}
	slog.New(h).Info("hello", "CHILD_PID", 3)
	if !strings.Contains(fallback.String(), "msg=hello CHILD_PID=3") {
		t.Errorf("want the entry on stderr when the journal refuses it, got %q", fallback.String())
	}
}

func TestNewWithoutJournalWritesText(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var b strings.Builder
	New(&b, slog.LevelInfo).Info("hi", "CHILD_PID", 1)
	if !strings.Contains(b.String(), "level=INFO msg=hi CHILD_PID=1") {
		t.Errorf("want a text line, got %q", b.String())
	}
}
