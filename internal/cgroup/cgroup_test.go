package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fake writes files under a temporary root: name -> content.
func fake(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	mountsV1 = `25 20 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
30 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
31 25 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	mountsV2 = `25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`
	// A container that sees its own cgroup as the mount's root.
	mountsV2Container = `25 20 0:22 /system.slice/box.service /sys/fs/cgroup rw - cgroup2 cgroup2 rw
`
)

func TestTaskLimit(t *testing.T) {
	for _, c := range []struct {
		name      string
		files     map[string]string
		max, cur  int
		where     string
		wantError error
	}{
		{"v1, limit on the cgroup", map[string]string{
			"cgroup":                                 "8:pids:/hellod\n4:memory:/x\n0::/\n",
			"mountinfo":                              mountsV1,
			"sys/fs/cgroup/pids/hellod/pids.max":     "20\n",
			"sys/fs/cgroup/pids/hellod/pids.current": "7\n",
		}, 20, 7, "sys/fs/cgroup/pids/hellod", nil},
		{"v2, an ancestor's smaller limit applies", map[string]string{
			"cgroup":    "0::/system.slice/hellod.service\n",
			"mountinfo": mountsV2,
			"sys/fs/cgroup/system.slice/hellod.service/pids.max":     "4915\n",
			"sys/fs/cgroup/system.slice/hellod.service/pids.current": "3\n",
			"sys/fs/cgroup/system.slice/pids.max":                    "64\n",
			"sys/fs/cgroup/system.slice/pids.current":                "9\n",
		}, 64, 9, "sys/fs/cgroup/system.slice", nil},
		{"v2, max everywhere", map[string]string{
			"cgroup":                                "0::/user.slice\n",
			"mountinfo":                             mountsV2,
			"sys/fs/cgroup/user.slice/pids.max":     "max\n",
			"sys/fs/cgroup/user.slice/pids.current": "12\n",
		}, 0, -1, "", nil},
		{"v2 in a container: the mount's root is our cgroup", map[string]string{
			"cgroup":                        "0::/system.slice/box.service/hellod\n",
			"mountinfo":                     mountsV2Container,
			"sys/fs/cgroup/hellod/pids.max": "15\n",
			"sys/fs/cgroup/pids.max":        "100\n",
		}, 15, -1, "sys/fs/cgroup/hellod", nil},
		{"no pids controller", map[string]string{
			"cgroup":    "4:memory:/x\n",
			"mountinfo": mountsV1,
		}, 0, 0, "", ErrNoPids},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := fake(t, c.files)
			s := System{Cgroup: filepath.Join(root, "cgroup"), Mountinfo: filepath.Join(root, "mountinfo"), Root: root}
			got, err := s.TaskLimit()
			if !errors.Is(err, c.wantError) {
				t.Fatalf("want error %v, got %v", c.wantError, err)
			}
			if err != nil {
				return
			}
			where := ""
			if got.Where != "" {
				where, _ = filepath.Rel(root, got.Where)
			}
			if got.Max != c.max || got.Current != c.cur || where != c.where {
				t.Errorf("want max %d current %d in %q, got %d %d in %q", c.max, c.cur, c.where, got.Max, got.Current, where)
			}
		})
	}
}

func TestTaskLimitBadValue(t *testing.T) {
	root := fake(t, map[string]string{
		"cgroup": "0::/a\n", "mountinfo": mountsV2, "sys/fs/cgroup/a/pids.max": "lots\n",
	})
	s := System{Cgroup: filepath.Join(root, "cgroup"), Mountinfo: filepath.Join(root, "mountinfo"), Root: root}
	if _, err := s.TaskLimit(); err == nil {
		t.Error(`want an error for pids.max "lots", got none`)
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`/a\040b\`); got != `/a b\` {
		t.Errorf(`want "/a b\", got %q`, got)
	}
}

// This process's own limit, whatever it is: no error where a pids
// controller is mounted.
func TestSelf(t *testing.T) {
	got, err := Self.TaskLimit()
	if errors.Is(err, ErrNoPids) {
		t.Skip("no pids controller here")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this process: %+v", got)
}
