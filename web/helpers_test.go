package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/metrics"
	"newswatch/pipeline"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// item is one RSS item of the test feed.
type item struct{ guid, title, body string }

// feedServer serves an RSS feed of items.
func feedServer(t *testing.T, items ...item) *httptest.Server {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test wire</title><link>https://news.example.org/</link>`)
	for _, it := range items {
		fmt.Fprintf(&b, `<item><guid isPermaLink="false">%s</guid><title>%s</title><link>https://news.example.org/%s</link><description>%s</description><pubDate>Mon, 02 Oct 2023 10:00:00 GMT</pubDate></item>`,
			it.guid, html.EscapeString(it.title), it.guid, html.EscapeString(it.body))
	}
	b.WriteString(`</channel></rss>`)
	feed := b.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = io.WriteString(w, feed)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hookServer is a webhook receiver that accepts everything.
type hookServer struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.calls++
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// daemon is a real bus and pipeline on a temporary data dir.
type daemon struct {
	cfg *config.Config
	b   *bus.Bus
	p   *pipeline.Pipeline
	m   *metrics.Metrics
}

// openDaemon writes the config YAML (data_dir is added) to a file, loads
// it, and opens the bus and the pipeline on it.
func openDaemon(t *testing.T, yamlText string) *daemon {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	text := "data_dir: " + filepath.Join(dir, "data") + "\n" + yamlText
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	p, err := pipeline.New(cfg, b, discard(), m)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return &daemon{cfg: cfg, b: b, p: p, m: m}
}

// run runs roles until the test ends.
func (d *daemon) run(t *testing.T, roles pipeline.Roles) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.p.Run(ctx, roles) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop")
		}
	})
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
