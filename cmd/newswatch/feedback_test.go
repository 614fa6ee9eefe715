package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/feedback"
	"newswatch/internal/harness"
	"newswatch/news"
)

// A label given through an alert's link is kept, listed, exported in a
// shape `classify` reads, and scored by backtest.
func TestFeedbackEndToEnd(t *testing.T) {
	feed := feedServer(t)
	hooks := newReceiver(t, nil)
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir":    filepath.Join(dir, "data"),
		"http":        map[string]any{"listen": "", "public_url": "https://nw.example.org/"},
		"log":         map[string]any{"level": "warn"},
		"sources":     []any{map[string]any{"id": "wire", "type": "feed", "url": feed.URL}},
		"topics":      harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{map[string]any{"id": "desk", "type": "webhook", "url": hooks.srv.URL, "secret": secret, "topics": []string{"fentanyl"}}},
	})
	code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", "60s")
	if code != 0 {
		t.Fatalf("once exited %d\n%s\n%s", code, stdout, stderr)
	}
	seedID := news.ArticleID("seed", "https://news.example.org/seed")
	a, ok := alertsOf(t, hooks.hooks())[news.AlertID("fentanyl", seedID)]
	if !ok {
		t.Fatalf("no webhook alert for the seed article; once said:\n%s\n%s", stdout, stderr)
	}
	if a.Feedback == nil || !strings.HasPrefix(a.Feedback.NotRelevant, "https://nw.example.org/feedback/?") {
		t.Fatalf("webhook alert lacks feedback links: %+v", a.Feedback)
	}

	// The daemon's handler, on the same bus, takes the subscriber's click.
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, p, err := open(ctx, cfg, discardLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.FeedbackHandler())
	u, _ := url.Parse(a.Feedback.NotRelevant)
	resp, err := http.PostForm(srv.URL+feedback.Path, u.Query())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST feedback: %s", resp.Status)
	}
	// A relevant article the query missed, labelled without its text
	// (backtest finds it in the archive).
	stormID := news.ArticleID("weather", "https://news.example.org/weather")
	if _, err := feedback.NewStore(b.FeedbackKV()).Put(ctx, feedback.Record{AlertID: news.AlertID("fentanyl", stormID), Topic: "fentanyl",
		ArticleID: stormID, Subscriber: "desk", Label: feedback.Relevant, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	b.Close()

	code, stdout, stderr = runCLI(t, "feedback", "list", "-config", path)
	if code != 0 || !strings.Contains(stdout, "not_relevant") || !strings.Contains(stdout, "US and China fentanyl cooperation stalls") || !strings.Contains(stdout, "desk") {
		t.Errorf("feedback list = %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, "feedback", "export", "-config", path, "-topic", "fentanyl")
	if code != 0 {
		t.Fatalf("feedback export = %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("export has %d lines, want 2:\n%s", len(lines), stdout)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["id"] != seedID || first["topic"] != "fentanyl" || first["label"] != "not_relevant" ||
		first["title"] != "US and China fentanyl cooperation stalls" || first["url"] != "https://news.example.org/seed" || first["source"] != "wire" {
		t.Errorf("export line = %v", first)
	}
	// classify reads the export as it is.
	in := filepath.Join(dir, "export.jsonl")
	if err := os.WriteFile(in, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "classify", "-config", path, "-in", in)
	if code != 0 || errs != "" {
		t.Fatalf("classify of the export = %d %s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Scan()
	if !strings.Contains(sc.Text(), `"id":"`+seedID+`"`) || !strings.Contains(sc.Text(), `"fentanyl"`) {
		t.Errorf("classify output = %s", out)
	}

	code, stdout, stderr = runCLI(t, "backtest", "-config", path, "-topic", "fentanyl")
	if code != 0 {
		t.Fatalf("backtest = %d %s", code, stderr)
	}
	for _, want := range []string{
		"feedback on topic fentanyl: 2 labelled articles",
		"precision 0.00 (0 of 1 matches labelled relevant), recall 0.00 (0 of 1 relevant matched)",
		"false positives (matched, labelled not relevant):",
		"US and China fentanyl cooperation stalls",
		"matched by: ",
		"misses (labelled relevant, not matched):",
		"Storms expected across the Midwest",
		"failed: ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("backtest lacks %q:\n%s", want, stdout)
		}
	}
	// A query that drops the false positive and finds the miss scores 1.
	code, stdout, _ = runCLI(t, "backtest", "-config", path, "-topic", "fentanyl", "-query", "storms")
	if code != 0 || !strings.Contains(stdout, "precision 1.00 (1 of 1 matches labelled relevant), recall 1.00 (1 of 1 relevant matched)") {
		t.Errorf("backtest -query = %d\n%s", code, stdout)
	}
}
