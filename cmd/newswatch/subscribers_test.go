package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
