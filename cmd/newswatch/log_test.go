package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"newswatch/config"
	"newswatch/internal/harness"
)

func TestLoggerLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, config.Log{Level: "warn", Format: "json"})
	log.Info("hidden")
	log.Warn("shown", "source", "wire")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines at level warn: %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("log.format json wrote %q: %v", lines[0], err)
	}
	if rec["msg"] != "shown" || rec["level"] != "WARN" || rec["source"] != "wire" {
		t.Errorf("record = %v", rec)
	}

	buf.Reset()
	log = newLogger(&buf, config.Log{Level: "debug", Format: "text"})
	log.Debug("details", "n", 1)
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=details n=1") {
		t.Errorf("text at debug = %q", got)
	}
}

func TestRedactingHandler(t *testing.T) {
	var buf bytes.Buffer
	r := newRedactor([]string{"s3cret-token"})
	log := slog.New(r.handler(newLogger(&buf, config.Log{Level: "info", Format: "text"}).Handler()))
	log.With("url", "https://x.example/?token=s3cret-token").Error("fetch failed with s3cret-token",
		"err", errors.New(`Get "https://x.example/?token=s3cret-token": refused`),
		"any", fmt.Sprintf("%v", []string{"s3cret-token"}),
		slog.Group("g", "k", "s3cret-token"))
	if strings.Contains(buf.String(), "s3cret-token") {
		t.Errorf("log holds the secret: %s", buf.String())
	}
	if strings.Count(buf.String(), "[redacted]") != 5 {
		t.Errorf("want 5 redactions: %s", buf.String())
	}
	// A reload swaps the list.
	r.set([]string{"new-secret"})
	buf.Reset()
	log.Info("x", "v", "new-secret")
	if strings.Contains(buf.String(), "new-secret") {
		t.Errorf("after set: %s", buf.String())
	}
}

// `once` with a failing source whose URL carries credentials logs and
// prints the failure without them.
func TestOnceLogsNoSecret(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NW_LOG_TEST_TOKEN", "env-token-424242")
	addr := "127.0.0.1:1"
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"log":      map[string]any{"level": "debug", "format": "json"},
		"sources": []any{
			map[string]any{"id": "keyed", "url": "http://reader:pw-9f8e7d@" + addr + "/rss?api_key=key-1a2b3c4d"},
			map[string]any{"id": "pathed", "url": "http://" + addr + "/feeds/${NW_LOG_TEST_TOKEN}/rss"},
		},
		"topics": []any{map[string]any{"id": "t", "query": "x"}},
	})
	code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", "20s")
	if code == 0 {
		t.Errorf("once exited 0 with failing sources")
	}
	if !strings.Contains(stderr, "source keyed:") || !strings.Contains(stderr, "fetch failed") {
		t.Errorf("the failures are not reported:\n%s", stderr)
	}
	for _, s := range []string{"pw-9f8e7d", "key-1a2b3c4d", "env-token-424242"} {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("output holds the secret %q:\n%s", s, stderr)
		}
	}
}
