package main

import (
	"strings"
	"testing"
)

// A misspelt variable is named in one warning line, with the nearest
// valid one; the daemon starts with its defaults.
func TestUnknownVariableWarns(t *testing.T) {
	d := start(t, []string{"HELLOD_MAX_CHILDRN=3"})
	line := d.waitLog("unknown variable HELLOD_MAX_CHILDRN")
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "the nearest hellod reads is HELLOD_MAX_CHILDREN") {
		t.Errorf("want a WARN line naming HELLOD_MAX_CHILDREN, got %q", line)
	}
	if !strings.Contains(d.waitLog("listening on "), "at most 512 at once") {
		t.Errorf("want the default --max-children (512), got %q", d.waitLog("listening on "))
	}
	if n := d.count("unknown variable"); n != 1 {
		t.Errorf("want 1 warning line, got %d", n)
	}
}
