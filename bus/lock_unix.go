//go:build unix

package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrDataDirInUse means another process runs the embedded server on the
// same data_dir; two servers on one store would corrupt it.
var ErrDataDirInUse = errors.New("bus: data_dir is in use by another newswatch process")

// stoppingMark follows the pid in the lock file while its holder shuts
// down: a process started meanwhile waits for the lock instead of failing.
const stoppingMark = " stopping"

// dirLock is the exclusive lock on a data_dir.
type dirLock struct{ f *os.File }

// held reports whether the lock keeps other processes out.
func (l *dirLock) held() bool { return l != nil && l.f != nil }

// lockDataDir takes an exclusive lock on dir for the life of the process
// (or until release is called). When the holder is shutting down (a
// restart right after SIGTERM), it waits for it to let go while wait
// allows and ctx lasts; a holder that runs on fails it at once.
func lockDataDir(ctx context.Context, dir string, wait time.Duration) (*dirLock, error) {
	path := filepath.Join(dir, "newswatch.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		data, _ := os.ReadFile(path)
		holder := strings.TrimSpace(string(data))
		if strings.HasSuffix(holder, strings.TrimSpace(stoppingMark)) && time.Now().Before(deadline) && ctx.Err() == nil {
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		f.Close()
		if pid, _, _ := strings.Cut(holder, " "); pid != "" {
			return nil, fmt.Errorf("%w (pid %s, %s): stop it, or give this process a data_dir of its own", ErrDataDirInUse, pid, dir)
		}
		return nil, fmt.Errorf("%w (%s): stop the other process, or give this one a data_dir of its own", ErrDataDirInUse, dir)
	}
	l := &dirLock{f: f}
	l.write("")
	return l, nil
}

// write puts the holder's pid and mark in the lock file. It writes before
// it truncates, so a process polling the file never reads it empty.
func (l *dirLock) write(mark string) {
	line := []byte(strconv.Itoa(os.Getpid()) + mark + "\n")
	if _, err := l.f.WriteAt(line, 0); err == nil {
		_ = l.f.Truncate(int64(len(line)))
	}
}

// stopping tells processes that want the lock that it is about to be
// released.
func (l *dirLock) stopping() { l.write(stoppingMark) }

func (l *dirLock) release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// capResume is what the store-cap fault tells the operator to do.
const capResume = "and writes resume by themselves"

// freeBytes is the space left for unprivileged writes under dir.
func freeBytes(dir string) (uint64, bool) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, false
	}
	return fs.Bavail * uint64(fs.Bsize), true
}
