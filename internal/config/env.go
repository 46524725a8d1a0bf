package config

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

// EnvNames lists the variables hellod reads, one per flag (--version has
// none), in the flags' order.
func EnvNames() []string {
	var names []string
	c := Default()
	NewFlagSet(&c).VisitAll(func(f *flag.Flag) {
		if f.Name != "version" {
			names = append(names, EnvName(f.Name))
		}
	})
	return names
}

// UnknownEnv returns a warning for each HELLOD_* variable of environ
// ("NAME=value" entries, as os.Environ gives them) that hellod does not
// read, naming the nearest one it does (by edit distance), in the order of
// environ. Such a variable is ignored: most often a misspelling in
// /etc/default/hellod.
func UnknownEnv(environ []string) []string {
	valid := EnvNames()
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(valid, name) {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("unknown variable %s ignored (the nearest hellod reads is %s; see hellod --help)",
			name, nearest(name, valid)))
	}
	return warnings
}

// nearest returns the candidate closest to s by edit distance, the first
// of equals.
func nearest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes: the names are
// ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
