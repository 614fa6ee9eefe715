//go:build !linux

package harness

import "testing"

// MountTmpfs skips the test: a tmpfs is mounted on Linux only.
func MountTmpfs(t testing.TB, dir, size, what string) {
	t.Helper()
	t.Skipf("SKIPPED: %s needs Linux to mount a small tmpfs; %s is NOT tested in this run", t.Name(), what)
}
