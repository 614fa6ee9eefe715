//go:build !unix

package bus

import (
	"context"
	"errors"
	"time"
)

// ErrDataDirInUse means another process runs the embedded server on the
// same data_dir.
var ErrDataDirInUse = errors.New("bus: data_dir is in use by another newswatch process")

type dirLock struct{}

func lockDataDir(context.Context, string, time.Duration) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) stopping() {}
func (*dirLock) release()  {}

// held reports whether the lock keeps other processes out: not here.
func (*dirLock) held() bool { return false }

func freeBytes(string) (uint64, bool) { return 0, false }

// capResume is what the store-cap fault tells the operator to do: here
// the free space cannot be read, so the cap is not raised by itself.
const capResume = "then restart newswatch (it cannot read the free disk space on this system to raise the cap by itself)"
