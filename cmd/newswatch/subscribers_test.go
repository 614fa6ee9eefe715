package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/notifier"
)

// TestSubscribersEnable: `subscribers enable ID` clears the disabled state
// a 410 Gone left in the store; test-delivery against a 410 receiver
// states the rule.
func TestSubscribersEnable(t *testing.T) {
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`data_dir: %s
topics:
  - id: fentanyl
    query: fentanyl
subscribers:
  - id: desk
    type: webhook
    url: %s/hooks
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`, filepath.Join(dir, "data"), gone.URL)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errs := runCLI(t, "test-delivery", "-config", path, "-subscriber", "desk")
	if code == 0 || !strings.Contains(errs, "410 Gone") || !strings.Contains(errs, "newswatch subscribers enable desk") {
		t.Errorf("test-delivery to a 410 receiver: exit %d, %q", code, errs)
	}

	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store.Put(ctx, "disabled.desk", []byte(`{"reason":"status 410 Gone","at":"2026-01-02T03:04:05Z","config":"x"}`)); err != nil {
		t.Fatal(err)
	}
	b.Close()

	code, out, errs := runCLI(t, "subscribers", "enable", "-config", path, "desk")
	if code != 0 || !strings.Contains(out, "enabled subscriber desk") {
		t.Fatalf("subscribers enable: exit %d, %q %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "subscribers", "enable", "-config", path, "desk")
	if code != 0 || !strings.Contains(out, "not disabled") {
		t.Errorf("second enable: exit %d, %q", code, out)
	}
	if code, _, errs := runCLI(t, "subscribers", "enable", "-config", path, "nosuch"); code == 0 || !strings.Contains(errs, `no subscriber "nosuch"`) {
		t.Errorf("unknown subscriber: exit %d, %q", code, errs)
	}

	b, err = bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if dis, err := notifier.Disabled(ctx, b, "desk"); err != nil || dis != nil {
		t.Errorf("still disabled after enable: %+v %v", dis, err)
	}
}

// A daemon that holds data_dir is asked through its API: the subscriber a
// 410 disabled is enabled, and the alert that got the 410 is delivered.
func TestSubscribersEnableWhileDaemonRuns(t *testing.T) {
	feeds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`+
			`<item><guid>g1</guid><title>Fentanyl seizure at the border</title><link>https://news.example.org/g1</link><description>Agents seized fentanyl.</description></item>`+
			`</channel></rss>`)
	}))
	t.Cleanup(feeds.Close)
	var goneNow atomic.Bool
	goneNow.Store(true)
	rc := newReceiver(t, func(int) int {
		if goneNow.Load() {
			return http.StatusGone
		}
		return http.StatusNoContent
	})
	dir := t.TempDir()
	d := startDaemon(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": freeAddr(t)},
		"sources":  []any{map[string]any{"id": "wire", "url": feeds.URL + "/feed.xml", "interval": "1h"}},
		"topics":   []any{map[string]any{"id": "fentanyl", "query": "fentanyl"}},
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": rc.srv.URL + "/hook", "secret": secret},
		},
	})
	waitUntil(t, 60*time.Second, "the subscriber is disabled", func() bool {
		_, subs := d.do(t, "GET", "/api/subscribers", "")
		return strings.Contains(subs, `"disabled": true`)
	})
	goneNow.Store(false)
	code, out, errs := runCLI(t, "subscribers", "enable", "-config", d.path, "desk")
	if code != 0 || !strings.Contains(out, "enabled subscriber desk") {
		t.Fatalf("enable while the daemon runs: exit %d\n%s%s", code, out, errs)
	}
	waitUntil(t, 60*time.Second, "the queued alert is delivered", func() bool { return len(rc.hooks()) == 1 })
	if code, out, _ := runCLI(t, "subscribers", "enable", "-config", d.path, "desk"); code != 0 || !strings.Contains(out, "is not disabled") {
		t.Errorf("enable again: exit %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "subscribers", "enable", "-config", d.path, "nosuch"); code == 0 || !strings.Contains(errs, `no subscriber "nosuch"`) {
		t.Errorf("enable an unknown subscriber: exit %d %q", code, errs)
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
