package harness

import (
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (e.g. "24m") on dir for the test,
// unmounted when it ends. Without root, or when the mount fails, the test
// is skipped, saying loudly that what (e.g. "the full-disk fault") is not
// tested in this run.
func MountTmpfs(t testing.TB, dir, size, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("SKIPPED: %s needs root to mount a small tmpfs; %s is NOT tested in this run", t.Name(), what)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("SKIPPED: %s could not mount a tmpfs (%v); %s is NOT tested in this run", t.Name(), err, what)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}
