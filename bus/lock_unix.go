//go:build unix

package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse means another process runs the embedded server on the
// same data_dir; two servers on one store would corrupt it.
var ErrDataDirInUse = errors.New("bus: data_dir is in use by another newswatch process")

// lockDataDir takes an exclusive lock on dir for the life of the process
// (or until release is called).
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "newswatch.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(data))
		if pid != "" {
			return nil, fmt.Errorf("%w (pid %s, %s): stop it, or give this process a data_dir of its own", ErrDataDirInUse, pid, dir)
		}
		return nil, fmt.Errorf("%w (%s): stop the other process, or give this one a data_dir of its own", ErrDataDirInUse, dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
