package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"newswatch/bus"
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

// feedback list, export and model work against a running daemon (through
// its API, with the config's auth) and print what they print once it
// stopped, unreadable records counted the same.
func TestFeedbackWhileDaemonRuns(t *testing.T) {
	t.Setenv("NW_FEEDBACK_TOKEN", opsToken)
	dir := t.TempDir()
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": freeAddr(t), "auth": map[string]any{"bearer_token": "${NW_FEEDBACK_TOKEN}"}},
		"log":      map[string]any{"level": "info"},
		"sources":  []any{map[string]any{"id": "wire", "url": feedServer(t).URL, "interval": "1h"}},
		"topics": []any{
			map[string]any{"id": "fentanyl", "query": "fentanyl"},
			map[string]any{"id": "storms", "query": "storm"},
		},
	}
	// Labels stored before the daemon starts: one with its article, one
	// without, one of another topic, and one that cannot be read.
	c, err := config.Load(harness.WriteConfig(t, dir, cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, c, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	seed := &feedback.Article{ID: "a1", Title: "Fentanyl seizure at the border", Summary: "Agents seized fentanyl.",
		Categories: []string{"crime"}, URL: "https://news.example.org/a1", Source: "wire"}
	store := feedback.NewStore(b.FeedbackKV())
	for _, r := range []feedback.Record{
		{AlertID: "fentanyl:a1", Topic: "fentanyl", ArticleID: "a1", Subscriber: "desk", Label: feedback.NotRelevant, At: at, Article: seed},
		{AlertID: "fentanyl:a2", Topic: "fentanyl", ArticleID: "a2", Subscriber: "desk", Label: feedback.Relevant, At: at.Add(time.Minute)},
		{AlertID: "storms:a3", Topic: "storms", ArticleID: "a3", Subscriber: "ops", Label: feedback.Relevant, At: at.Add(2 * time.Minute),
			Article: &feedback.Article{ID: "a3", Title: "Storm warning", URL: "https://news.example.org/a3", Source: "wire"}},
	} {
		if _, err := store.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.FeedbackKV().Put(ctx, "broken", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	b.Close()

	d := startDaemon(t, dir, cfg)
	if code, _ := d.do(t, "GET", "/api/feedback", ""); code != http.StatusUnauthorized {
		t.Errorf("/api/feedback without auth = %d, want 401", code)
	}
	if code, body := d.do(t, "GET", "/api/feedback?topic=storms", bearer()); code != http.StatusOK ||
		!strings.Contains(body, `"Storm warning"`) || strings.Contains(body, `"fentanyl:a1"`) || !strings.Contains(body, `"unreadable": 1`) {
		t.Errorf("/api/feedback?topic=storms = %d\n%s", code, body)
	}
	commands := [][]string{
		{"list"}, {"list", "-json"}, {"list", "-topic", "storms"},
		{"export"}, {"export", "-topic", "fentanyl"}, {"model", "-topic", "fentanyl"},
	}
	outputs := func(when string) []string {
		var outs []string
		for _, c := range commands {
			args := append([]string{"feedback", c[0], "-config", d.path}, c[1:]...)
			code, out, errs := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("%s: %q: exit %d\n%s", when, args, code, errs)
			}
			outs = append(outs, out+"\nstderr:\n"+errs)
		}
		return outs
	}
	running := outputs("daemon running")
	d.stop()
	stopped := outputs("daemon stopped")
	for i, c := range commands {
		if running[i] != stopped[i] {
			t.Errorf("feedback %q while the daemon runs:\n%s\nonce it stopped:\n%s", c, running[i], stopped[i])
		}
	}
	list, export := running[0], running[3]
	if !strings.Contains(list, "2026-11-02 09:30  fentanyl  not_relevant  desk") || !strings.Contains(list, "(article no longer in the stream)") ||
		!strings.Contains(list, "1 feedback records could not be read") {
		t.Errorf("feedback list:\n%s", list)
	}
	if !strings.Contains(export, `{"id":"a1","title":"Fentanyl seizure at the border","summary":"Agents seized fentanyl.","categories":["crime"],"url":"https://news.example.org/a1","source":"wire","topic":"fentanyl","label":"not_relevant"}`) {
		t.Errorf("feedback export:\n%s", export)
	}
	if strings.Contains(strings.Join(running, ""), opsToken) {
		t.Errorf("an output holds the API token")
	}
}

// An archived message that is not an article is counted and said, not
// left out of the figures in silence.
func TestBacktestSaysUnreadableArchive(t *testing.T) {
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"log":      map[string]any{"level": "warn"},
		"topics":   harness.RepoTopics(t, "../../config.yaml"),
	})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, _, err := open(ctx, cfg, discardLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(news.Article{ID: "a1", Source: "wire", Title: "Fentanyl seizure at the border"})
	for i, data := range [][]byte{good, []byte("{not json")} {
		if _, err := b.Publish(ctx, b.Names.ArticleSubject("wire"), data, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	code, stdout, stderr := runCLI(t, "backtest", "-config", path, "-topic", "fentanyl")
	if code != 0 {
		t.Fatalf("backtest = %d %s", code, stderr)
	}
	if !strings.Contains(stdout, "of 1 archived articles") {
		t.Errorf("backtest stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, "1 archived message is not an article") {
		t.Errorf("backtest does not say what it could not read; stderr:\n%s", stderr)
	}
}

// An export that cannot be written (a full disk under a redirect) says
// why; so does the -json list.
func TestFeedbackExportSaysOutputNotWritten(t *testing.T) {
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": "", "public_url": "https://nw.example.org/"},
		"log":      map[string]any{"level": "warn"},
		"topics":   harness.RepoTopics(t, "../../config.yaml"),
	})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, _, err := open(ctx, cfg, discardLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.FeedbackKV() == nil {
		t.Fatal("no feedback bucket with http.public_url set")
	}
	id := news.ArticleID("wire", "https://news.example.org/a")
	if _, err := feedback.NewStore(b.FeedbackKV()).Put(ctx, feedback.Record{AlertID: news.AlertID("fentanyl", id), Topic: "fentanyl",
		ArticleID: id, Subscriber: "desk", Label: feedback.Relevant, At: time.Now(),
		Article: &feedback.Article{ID: id, Title: "Fentanyl seizure"}}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	for _, args := range [][]string{
		{"feedback", "export", "-config", path},
		{"feedback", "list", "-json", "-config", path},
	} {
		var errb bytes.Buffer
		code := Main(ctx, args, strings.NewReader(""), failWriter{}, &errb)
		if code != exitFailure || !strings.Contains(errb.String(), "no space left on device") {
			t.Errorf("%v into a writer that fails: exit %d, stderr:\n%s", args, code, errb.String())
		}
	}
}
