//go:build !unix

package bus

import "errors"

// ErrDataDirInUse means another process runs the embedded server on the
// same data_dir.
var ErrDataDirInUse = errors.New("bus: data_dir is in use by another newswatch process")

func lockDataDir(string) (func(), error) { return func() {}, nil }
