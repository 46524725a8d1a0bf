//go:build !amd64 && !arm64

package sandbox

// No allowlist here: Build and Supported refuse.
const (
	auditArch = 0
	x32Bit    = 0
)
