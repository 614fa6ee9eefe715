package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// starterConfig is what `newswatch init` writes: a commented config that
// passes `check` as is and runs on the embedded NATS server.
//
//go:embed starter.yaml
var starterConfig []byte

func cmdInit(_ context.Context, env *cliEnv, args []string) int {
	flags, cfgPath := newFlags(env, "init")
	if code, done := parseFlags(flags, args); done {
		return code
	}
	if *cfgPath == "-" {
		_, _ = env.stdout.Write(starterConfig)
		return exitOK
	}
	if err := writeNew(*cfgPath, starterConfig); err != nil {
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(env.stderr, "newswatch init: %s already exists; not overwriting it (remove it, or pass -config with another path)\n", *cfgPath)
		} else {
			fmt.Fprintf(env.stderr, "newswatch init: %v\n", err)
		}
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "wrote %s\nnext: newswatch check -config %s && newswatch run -config %s\n", *cfgPath, *cfgPath, *cfgPath)
	return exitOK
}

// writeNew creates path with data, failing if it exists (checked
// atomically, so two inits never clobber each other).
func writeNew(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
