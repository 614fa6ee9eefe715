//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"newswatch/internal/harness"
)

// lockProbe is a log writer that, when the daemon logs "stopped", tries
// to take data_dir's lock: it is free only if the embedded server has
// let go of the store by then.
type lockProbe struct {
	lock string

	mu      sync.Mutex
	buf     bytes.Buffer
	checked bool
	free    bool
}

func (p *lockProbe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	if !p.checked && bytes.Contains(b, []byte("msg=stopped")) {
		p.checked = true
		if f, err := os.OpenFile(p.lock, os.O_RDWR, 0); err == nil {
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				p.free = true
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			}
			f.Close()
		}
	}
	return len(b), nil
}

// "stopped" is the daemon's last word: a process started on the same
// data_dir after that line starts at once, not into a held store.
func TestRunLogsStoppedOnceTheStoreIsReleased(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": data,
		"http":     map[string]any{"listen": "127.0.0.1:0"},
		"topics":   []any{map[string]any{"id": "t", "query": "x"}},
	})
	probe := &lockProbe{lock: filepath.Join(data, "newswatch.lock")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "-config", path}, strings.NewReader(""), io.Discard, probe)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		probe.mu.Lock()
		running := strings.Contains(probe.buf.String(), "newswatch running")
		probe.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the daemon did not start within 30s\n%s", &probe.buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d\n%s", code, &probe.buf)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s")
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if !probe.checked {
		t.Fatalf("no \"stopped\" line\n%s", &probe.buf)
	}
	if !probe.free {
		t.Errorf("the daemon logged \"stopped\" while it still held data_dir\n%s", &probe.buf)
	}
}
