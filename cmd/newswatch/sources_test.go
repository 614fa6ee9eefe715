package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	"newswatch/metrics"
	"newswatch/pipeline"
	"newswatch/web"
)

// The status page's API and `newswatch sources` read one model of source
// state: for the same stored states they give the same rows (the URL as
// written in the config, less its secrets; the problem in words from the
// error's kind; the next fetch).
func TestSourcesReadModelMatchesAPI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`data_dir: %s
sources:
  - {id: fine, url: "https://example.org/rss?token=srcsecret123&page=2", interval: 1h}
  - {id: big, url: "https://big.example.org/feed.xml"}
  - {id: moved, url: "https://example.org/new.xml"}
  - {id: broken, url: "https://example.org/broken.xml"}
  - {id: fresh, url: "https://example.org/fresh.xml"}
  - {id: gone, url: "https://example.org/gone.xml"}
topics: [{id: t, query: fentanyl}]
`, filepath.Join(dir, "data"))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
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
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for id, st := range map[string]pipeline.SourceState{
		"fine": {ID: "fine", URL: cfg.Sources[0].URL, Status: "ok", HTTPStatus: 200, LastFetch: at, LastSuccess: at, NextDue: at.Add(time.Hour), ItemsSeen: 7},
		// The text alone would not say "too large": the kind does.
		"big":   {ID: "big", URL: cfg.Sources[1].URL, Status: "error", Error: "read body: stopped at 1048576 bytes", ErrorKind: pipeline.ErrorKindTooLarge, ConsecutiveFailures: 3, NextDue: at},
		"moved": {ID: "moved", URL: "https://example.org/old.xml", Status: "error", Error: "status 404", HTTPStatus: 404, ConsecutiveFailures: 2},
		"gone":  {ID: "gone", URL: cfg.Sources[5].URL, Status: "error", Error: "status 410", HTTPStatus: 410, ConsecutiveFailures: 1, LastFetch: at},
	} {
		data, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.State.Put(ctx, id, data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.State.Put(ctx, "broken", []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	p, err := pipeline.New(cfg, b, discardLogger(), metrics.New())
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	h := web.New(nil, nil, discardLogger(), web.WithStatus(web.NewPipelineBackend(b, p))).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/sources?per_page=500", nil))
	b.Close()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/sources: %d %s", rec.Code, rec.Body)
	}
	var page struct {
		Sources []web.Source `json:"sources"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}

	var stderr bytes.Buffer
	cli, ok := loadSources(ctx, &cliEnv{stdout: &bytes.Buffer{}, stderr: &stderr}, cfg)
	if !ok {
		t.Fatalf("loadSources: %s", stderr.String())
	}
	api, _ := json.MarshalIndent(page.Sources, "", " ")
	got, _ := json.MarshalIndent(cli, "", " ")
	if !bytes.Equal(api, got) {
		t.Errorf("newswatch sources and /api/sources differ for the same state:\nCLI %s\nAPI %s", got, api)
	}

	want := map[string]struct{ status, problem, url string }{
		"fine":   {"ok", "", "https://example.org/rss?token=REDACTED&page=2"},
		"big":    {"error", "the response is larger than fetch.max_body_bytes; 3 failures in a row", "https://big.example.org/feed.xml"},
		"moved":  {"pending", "", "https://example.org/new.xml"},
		"broken": {"pending", "", "https://example.org/broken.xml"},
		"fresh":  {"pending", "", "https://example.org/fresh.xml"},
		"gone":   {"error", "the feed is gone (HTTP 410): check the URL", "https://example.org/gone.xml"},
	}
	if len(cli) != len(want) {
		t.Fatalf("%d rows, want %d: %s", len(cli), len(want), got)
	}
	for i, s := range cli {
		if s.ID != cfg.Sources[i].ID {
			t.Errorf("row %d is %s, want config order (%s)", i, s.ID, cfg.Sources[i].ID)
		}
		w := want[s.ID]
		if s.Status != w.status || s.Problem != w.problem || s.URL != w.url {
			t.Errorf("%s: status %q problem %q url %q, want %q %q %q", s.ID, s.Status, s.Problem, s.URL, w.status, w.problem, w.url)
		}
		if strings.Contains(s.URL, "srcsecret123") {
			t.Errorf("%s: URL shows its token: %s", s.ID, s.URL)
		}
	}
	if !cli[0].NextFetch.Equal(at.Add(time.Hour)) || !cli[0].NextDue.Equal(cli[0].NextFetch) {
		t.Errorf("fine: next fetch %s (next_due %s), want %s", cli[0].NextFetch, cli[0].NextDue, at.Add(time.Hour))
	}
}
