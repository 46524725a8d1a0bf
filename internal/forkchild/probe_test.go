package forkchild

import (
	"runtime"
	"testing"
)

// TestProbe: on the architectures with a child entry (clone_*.s), the
// fork strategy works in an uninstrumented build (-race included), so that
// hellod's default strategy starts; only a coverage build may refuse it,
// and then with Probe's reason. (Every other fork test skips when Probe
// fails: this one turns such a skip into a failure where it must not
// happen.)
func TestProbe(t *testing.T) {
	err := Probe()
	switch {
	case runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64":
		if err == nil {
			t.Errorf("%s: want Probe to refuse the fork strategy (no child entry), got nil", runtime.GOARCH)
		}
	case testing.CoverMode() != "":
		t.Skipf("coverage build (-covermode=%s): Probe says %v", testing.CoverMode(), err)
	case err != nil:
		t.Errorf("%s: want the fork strategy available, got %v", runtime.GOARCH, err)
	default:
		t.Logf("%s: Probe: the canary fork child answered its GET and exited 0", runtime.GOARCH)
	}
}

func TestSameButDate(t *testing.T) {
	want := []byte("HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 02:26:19 GMT\r\nContent-Length: 2\r\n\r\nhi")
	for _, c := range []struct {
		got  string
		same bool
	}{
		{string(want), true},
		{"HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 02:26:20 GMT\r\nContent-Length: 2\r\n\r\nhi", true},
		{"HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 02:26:20 GMT\r\nContent-Length: 2\r\n\r\nho", false},
		{"HTTP/1.1 400 OK\r\nDate: Wed, 02 Dec 2026 02:26:19 GMT\r\nContent-Length: 2\r\n\r\nhi", false},
		{"HTTP/1.1 200 OK\r\n", false},
	} {
		if got := sameButDate([]byte(c.got), want); got != c.same {
			t.Errorf("%q: want %v, got %v", c.got, c.same, got)
		}
	}
}
