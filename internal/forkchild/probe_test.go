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
