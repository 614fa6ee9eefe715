package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"newswatch/internal/harness"
)

// A rejected reload (SIGHUP, as `systemctl reload` sends, prints nothing
// to whoever sent it) left only a log line: the metrics said nothing, so
// an edit that never took effect went unnoticed until the next restart
// failed. The metrics now say whether the last reload was put in force.
func TestRejectedReloadShowsInMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": "127.0.0.1:0"},
		"topics":   []any{map[string]any{"id": "t", "query": "x"}},
	}
	d := startDaemon(t, dir, cfg)
	successful := regexp.MustCompile(`(?m)^newswatch_config_last_reload_successful (\S+)$`)
	stamp := regexp.MustCompile(`(?m)^newswatch_config_last_reload_success_timestamp_seconds (\S+)$`)
	scrape := func() (ok, at string) {
		t.Helper()
		code, body := d.do(t, "GET", "/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d", code)
		}
		if m := successful.FindStringSubmatch(body); m != nil {
			ok = m[1]
		}
		if m := stamp.FindStringSubmatch(body); m != nil {
			at = m[1]
		}
		return ok, at
	}
	ok, started := scrape()
	if ok != "1" || started == "" || started == "0" {
		t.Fatalf("at start: successful %q, timestamp %q; want 1 and the start", ok, started)
	}

	cfg["topics"] = []any{map[string]any{"id": "t", "query": "x AND ("}}
	harness.WriteConfig(t, dir, cfg)
	if code, body := d.do(t, "POST", "/-/reload", ""); code != http.StatusUnprocessableEntity {
		t.Fatalf("reload of a broken config = %d %s", code, body)
	}
	if ok, at := scrape(); ok != "0" || at != started {
		t.Errorf("after a rejected reload: successful %q, timestamp %q; want 0 and still %s", ok, at, started)
	}
	// Named where an operator looks, and never failed for: the config in
	// force works.
	if code, body := d.do(t, "GET", "/readyz", ""); code != http.StatusOK || !strings.Contains(body, "warning: config.rejected: the last reload of") || !strings.Contains(body, "keeps running") || !strings.Contains(body, "newswatch check -config") {
		t.Errorf("/readyz after a rejected reload = %d %q; want ready with a config.rejected warning", code, body)
	}
	_, body := d.do(t, "GET", "/api/problems", "")
	var problems struct {
		Problems []struct {
			Kind     string
			Blocking bool
			Detail   string
		}
	}
	if err := json.Unmarshal([]byte(body), &problems); err != nil || len(problems.Problems) != 1 ||
		problems.Problems[0].Kind != "config.rejected" || problems.Problems[0].Blocking || !strings.Contains(problems.Problems[0].Detail, "query position 7") {
		t.Errorf("/api/problems after a rejected reload (%v): %s", err, body)
	}
	if _, body := d.do(t, "GET", "/", ""); !strings.Contains(body, "the last reload of") {
		t.Errorf("the status page does not name the rejected reload:\n%s", body)
	}

	cfg["topics"] = []any{map[string]any{"id": "t", "query": "x OR y"}}
	harness.WriteConfig(t, dir, cfg)
	if code, body := d.do(t, "POST", "/-/reload", ""); code != http.StatusOK {
		t.Fatalf("reload of a good config = %d %s", code, body)
	}
	if ok, at := scrape(); ok != "1" || at == "" {
		t.Errorf("after a good reload: successful %q, timestamp %q; want 1", ok, at)
	}
	if code, body := d.do(t, "GET", "/readyz", ""); code != http.StatusOK || strings.Contains(body, "config.rejected") {
		t.Errorf("/readyz after a good reload = %d %q; want the warning gone", code, body)
	}
}
