package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/internal/harness"
)

// cancelAt is a log writer that cancels the daemon's context from inside
// the write of the first line holding mark: the daemon logs that line
// and goes on synchronously, so the shutdown lands exactly there, not
// wherever a timer happens to fall.
type cancelAt struct {
	mark   string
	cancel context.CancelFunc

	mu  sync.Mutex
	buf bytes.Buffer
	hit bool
}

func (c *cancelAt) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(b)
	if !c.hit && c.mark != "" && bytes.Contains(b, []byte(c.mark)) {
		c.hit = true
		c.cancel()
	}
	return len(b), nil
}

func (c *cancelAt) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// An operator's SIGTERM while the daemon starts ends it as cleanly as one
// while it runs: exit 0 and no ERROR line, wherever start-up stood.
func TestRunStoppedDuringStartUpExitsCleanly(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)
	for _, tc := range []struct {
		name string
		mark string // the log line at which the shutdown comes; "" is before Main
	}{
		{"before start", ""},
		{"http listening", "msg=\"http listening\""},
		{"pipeline starting", "msg=\"newswatch running\""},
		{"no subscribers hint", "msg=\"no subscribers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := map[string]any{
				"data_dir": filepath.Join(dir, "data"),
				"http":     map[string]any{"listen": "127.0.0.1:0"},
				"log":      map[string]any{"level": "info"},
				"sources":  []any{map[string]any{"id": "wire", "url": "http://127.0.0.1:1/rss"}},
				"topics":   []any{map[string]any{"id": "t", "query": "x"}},
			}
			if !strings.Contains(tc.mark, "no subscribers") {
				cfg["subscribers"] = []any{
					map[string]any{"id": "desk", "type": "webhook", "url": hook.URL, "secret": secret},
					map[string]any{"id": "pager", "type": "webhook", "url": hook.URL + "/p", "secret": secret},
				}
			}
			path := harness.WriteConfig(t, dir, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := &cancelAt{mark: tc.mark, cancel: cancel}
			if tc.mark == "" {
				cancel()
			}
			done := make(chan int, 1)
			go func() {
				done <- Main(ctx, []string{"run", "-config", path, "-shutdown-timeout", "10s"}, strings.NewReader(""), io.Discard, log)
			}()
			var code int
			select {
			case code = <-done:
			case <-time.After(60 * time.Second):
				cancel()
				t.Fatalf("run did not stop within 60s\n%s", log)
			}
			if tc.mark != "" && !log.hit {
				t.Fatalf("no line %q: the shutdown never came\n%s", tc.mark, log)
			}
			out := log.String()
			if code != 0 {
				t.Errorf("run exited %d, want 0\n%s", code, out)
			}
			if strings.Contains(out, "level=ERROR") {
				t.Errorf("an operator's shutdown logged an ERROR\n%s", out)
			}
			if !strings.Contains(out, "msg=stopped") {
				t.Errorf("no \"stopped\" line\n%s", out)
			}
		})
	}
}

// A start-up that fails for a reason of its own still exits non-zero and
// names the cause, though a shutdown was asked for as well.
func TestRunStartUpFailureStillFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	for _, tc := range []struct {
		name  string
		mark  string // as in cancelAt; "" is before Main
		cfg   func(dir string) map[string]any
		cause string
	}{
		{"data_dir is a file", "", func(dir string) map[string]any {
			file := filepath.Join(dir, "data")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return map[string]any{"data_dir": file, "http": map[string]any{"listen": ""}}
		}, "msg=start"},
		{"listener taken", "level=ERROR", func(dir string) map[string]any {
			return map[string]any{"data_dir": filepath.Join(dir, "data"), "http": map[string]any{"listen": ln.Addr().String()}}
		}, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tc.cfg(dir)
			cfg["topics"] = []any{map[string]any{"id": "t", "query": "x"}}
			path := harness.WriteConfig(t, dir, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := &cancelAt{mark: tc.mark, cancel: cancel}
			if tc.mark == "" {
				cancel()
			}
			code := Main(ctx, []string{"run", "-config", path}, strings.NewReader(""), io.Discard, log)
			out := log.String()
			if code == 0 {
				t.Errorf("run exited 0 on a start-up that failed\n%s", out)
			}
			if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, tc.cause) {
				t.Errorf("the cause (%s) is not logged at ERROR\n%s", tc.cause, out)
			}
		})
	}
}
