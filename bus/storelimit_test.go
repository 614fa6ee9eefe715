//go:build linux

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/harness"
)

// The embedded server caps its store at 75% of the disk space free when
// it starts. Started on a disk nearly full (a restart during a disk-full
// incident), the store reaches that cap while the disk still has room:
// every write is refused with "insufficient resources", and no write
// error, no ENOSPC. Once space is freed, the store must take writes
// again without a restart, as after a full disk.
func TestStoreLimitReachedRecoversOnceSpaceIsFreed(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs; skipped with -short")
	}
	dir := t.TempDir()
	harness.MountTmpfs(t, dir, "48m", "the store's cap")
	// Leave 16 MiB free: the server's cap is then about 12 MiB.
	filler := filepath.Join(dir, "filler")
	free, _ := freeBytes(dir)
	if err := os.WriteFile(filler, make([]byte, free-16<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := &config.Config{DataDir: filepath.Join(dir, "data")}
	cfg.ApplyDefaults()
	var logs lockedBuffer
	b, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pad := strings.Repeat("x", 64<<10)
	publish := func(i int) error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := b.Publish(pctx, b.Names.ArticleSubject("s"), fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, pad), fmt.Sprint("a:", i))
		return err
	}
	n := 0
	for ; ; n++ {
		if n > 400 {
			t.Fatalf("the store took %d messages of 64 KiB on 16 MiB free", n)
		}
		if err := publish(n); err != nil {
			t.Logf("refused after %d messages: %v", n, err)
			break
		}
	}
	if free, _ := freeBytes(dir); free < 2<<20 {
		t.Fatalf("the disk is full (%d bytes free): the server's cap was not what stopped the writes", free)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within the time\nlog:\n%s", what, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("the store fault reported", func() bool {
		for _, f := range b.Health.Blocking() {
			if f.Key == storeFaultKey {
				return true
			}
		}
		return false
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor("the store takes writes again", func() bool {
		if len(b.Health.Blocking()) > 0 {
			return false
		}
		err := publish(n)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "insufficient") {
			t.Logf("publish: %v", err)
		}
		return err == nil
	})
}
