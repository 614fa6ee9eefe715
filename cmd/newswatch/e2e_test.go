package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/fixture"
	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
	"newswatch/news"
	"newswatch/notifier"
)

// feedServer serves an RSS feed holding the seed article and unrelated items.
func feedServer(t *testing.T) *httptest.Server {
	t.Helper()
	seed, err := os.ReadFile(fixture.Path(t, "seed-article.txt"))
	if err != nil {
		t.Fatal(err)
	}
	item := func(guid, title, body string) string {
		return fmt.Sprintf(`<item><guid isPermaLink="false">%s</guid><title>%s</title><link>https://news.example.org/%s</link><description>%s</description><pubDate>Mon, 02 Oct 2023 10:00:00 GMT</pubDate></item>`,
			guid, html.EscapeString(title), guid, html.EscapeString(body))
	}
	feed := `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test wire</title><link>https://news.example.org/</link>` +
		item("seed", "US and China fentanyl cooperation stalls", string(seed)) +
		item("weather", "Storms expected across the Midwest", "Forecasters expect heavy rain and wind across several states this weekend.") +
		item("sports", "Local team wins the championship", "The home side won the title after a dramatic final game.") +
		item("markets", "Stocks close higher on tech rally", "Shares of large technology companies rose as investors weighed earnings.") +
		`</channel></rss>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = io.WriteString(w, feed)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type hook struct {
	Header http.Header
	Body   []byte
}

// receiver is a webhook endpoint that answers fail(n) for the n-th call.
type receiver struct {
	mu    sync.Mutex
	calls int
	got   []hook
	fail  func(n int) int
	srv   *httptest.Server
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	rc := &receiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.calls++
		code := http.StatusOK
		if rc.fail != nil {
			code = rc.fail(rc.calls)
		}
		if code < 300 {
			rc.got = append(rc.got, hook{Header: r.Header.Clone(), Body: body})
		}
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) hooks() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.got...)
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verify checks a Standard Webhooks signature from the spec: the secret is
// the base64 after "whsec_", the signed content is "id.timestamp.body", and
// the header holds "v1,<base64 HMAC-SHA256>" entries separated by spaces.
func verify(t *testing.T, h hook) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	id, ts := h.Header.Get("webhook-id"), h.Header.Get("webhook-timestamp")
	if id == "" || ts == "" {
		t.Fatalf("missing webhook-id or webhook-timestamp: %v", h.Header)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(h.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Header.Get("webhook-signature")) {
		if sig == want {
			return
		}
	}
	t.Fatalf("signature %q does not verify (want %q)", h.Header.Get("webhook-signature"), want)
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Main(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func alertsOf(t *testing.T, hooks []hook) map[string]news.Alert {
	t.Helper()
	out := map[string]news.Alert{}
	for _, h := range hooks {
		verify(t, h)
		var a news.Alert
		if err := json.Unmarshal(h.Body, &a); err != nil {
			t.Fatalf("webhook body is not an alert: %v\n%s", err, h.Body)
		}
		if _, dup := out[a.ID]; dup {
			t.Errorf("alert %s delivered twice", a.ID)
		}
		out[a.ID] = a
	}
	return out
}

func TestOnceEndToEnd(t *testing.T) {
	feed := feedServer(t)
	hooks := newReceiver(t, nil)
	mail := smtptest.Start(t)
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"log":      map[string]any{"level": "warn"},
		"sources":  []any{map[string]any{"id": "wire", "type": "feed", "url": feed.URL}},
		"topics":   harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": hooks.srv.URL, "secret": secret},
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}, "topics": []string{"fentanyl"}},
		},
		"smtp": map[string]any{"host": mail.Host, "port": mail.Port, "tls": "none", "from": "newswatch <alerts@example.org>"},
	})

	code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", "60s")
	if code != 0 {
		t.Fatalf("once exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "sources: 1 ok, 0 failed") || !strings.Contains(stdout, "new articles: 4") {
		t.Errorf("summary = %q", stdout)
	}

	got := alertsOf(t, hooks.hooks())
	seedID := news.ArticleID("seed", "https://news.example.org/seed")
	// The seed article matches both topics: desk (every topic) gets it
	// once, as the alert of the first topic, naming both.
	if a, ok := got[news.AlertID("fentanyl", seedID)]; !ok {
		t.Errorf("no fentanyl alert for the seed article; got %v", keys(got))
	} else {
		if a.Topic != "fentanyl" || a.Article.Title != "US and China fentanyl cooperation stalls" || len(a.Matches) == 0 {
			t.Errorf("alert %s incomplete: %+v", a.ID, a)
		}
		if len(a.Topics) != 3 || a.Topics[0].ID != "fentanyl" || a.Topics[1].ID != "us-china" || a.Topics[2].ID != "us-china-fentanyl" {
			t.Errorf("alert %s topics = %+v, want fentanyl, us-china and us-china-fentanyl", a.ID, a.Topics)
		}
		for _, at := range a.Topics {
			for _, m := range at.Matches {
				if m.Field == "" || m.Term == "" {
					t.Errorf("alert %s: match without term or field: %+v", a.ID, m)
				}
			}
		}
	}
	if len(got) != 1 {
		t.Errorf("webhook got %d alerts, want 1 (the seed article once, with both topics): %v", len(got), keys(got))
	}

	msgs := mail.Wait(1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("got %d emails, want 1 (fentanyl only)", len(msgs))
	}
	m := string(msgs[0].Data)
	if msgs[0].To[0] != "analyst@example.org" {
		t.Errorf("email to %v", msgs[0].To)
	}
	for _, want := range []string{"multipart/alternative", "text/plain", "text/html", "Fentanyl"} {
		if !strings.Contains(m, want) {
			t.Errorf("email lacks %q:\n%s", want, m)
		}
	}

	// A second pass on the same data dir finds nothing new and sends nothing.
	code, stdout, stderr = runCLI(t, "once", "-config", path, "-timeout", "30s")
	if code != 0 {
		t.Fatalf("second once exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "new articles: 0; alerts: 0") {
		t.Errorf("second summary = %q", stdout)
	}
	if n := len(hooks.hooks()); n != 1 {
		t.Errorf("after the second pass the webhook has %d alerts, want still 1", n)
	}
	if n := len(mail.Messages()); n != 1 {
		t.Errorf("after the second pass %d emails, want still 1", n)
	}

	// backtest runs topics, or a query not yet in the config, over the archive.
	code, stdout, stderr = runCLI(t, "backtest", "-config", path, "-topic", "fentanyl")
	if code != 0 || !strings.Contains(stdout, "topic fentanyl: 1 of 4 archived articles would have alerted") ||
		!strings.Contains(stdout, "US and China fentanyl cooperation stalls") {
		t.Errorf("backtest = %d %q %s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "backtest", "-config", path, "-query", "storms OR championship")
	if code != 0 || !strings.Contains(stdout, "2 of 4 archived articles") {
		t.Errorf("backtest -query = %d %q", code, stdout)
	}
	// A query under a name of its own has no labels to report on.
	if strings.Contains(stdout, "feedback") {
		t.Errorf("backtest -query reports feedback on a topic that has none: %q", stdout)
	}
	// A topic built from others (topic:id), and a query naming one, run
	// with the topics they name.
	code, stdout, stderr = runCLI(t, "backtest", "-config", path, "-topic", "us-china-fentanyl")
	if code != 0 || !strings.Contains(stdout, "topic us-china-fentanyl: 1 of 4 archived articles would have alerted") {
		t.Errorf("backtest -topic us-china-fentanyl = %d %q %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "backtest", "-config", path, "-query", "topic:fentanyl OR storms")
	if code != 0 || !strings.Contains(stdout, "2 of 4 archived articles") {
		t.Errorf("backtest -query naming a topic = %d %q %s", code, stdout, stderr)
	}
	// A query's syntax error points into the query.
	code, _, stderr = runCLI(t, "backtest", "-config", path, "-query", "storms AND (")
	if want := "newswatch backtest: -query: found end of query: expected a term, a phrase, '(' or NOT\n  storms AND (\n              ^\n"; code == 0 || stderr != want {
		t.Errorf("backtest -query with a syntax error = %d\n%s\nwant\n%s", code, stderr, want)
	}
	// With -spikes it lists the spike alerts instead: none on four articles.
	code, stdout, stderr = runCLI(t, "backtest", "-config", path, "-topic", "fentanyl", "-spikes")
	if code != 0 || !strings.Contains(stdout, "topic fentanyl: 0 spike alerts would have been sent (threshold 5)") {
		t.Errorf("backtest -spikes = %d %q %s", code, stdout, stderr)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOnceRetriesAndDeadLetters(t *testing.T) {
	feed := feedServer(t)
	// Fails twice, then accepts.
	flaky := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	var brokenFixed atomic.Bool
	broken := newReceiver(t, func(int) int {
		if brokenFixed.Load() {
			return http.StatusOK
		}
		return http.StatusBadGateway
	})
	mail := smtptest.Start(t)
	mail.RejectNext(1) // one temporary SMTP failure, then delivery
	dir := t.TempDir()
	retry := map[string]any{"attempts": 3, "initial": "20ms", "max": "100ms"}
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"log":      map[string]any{"level": "error"},
		"sources":  []any{map[string]any{"id": "wire", "type": "feed", "url": feed.URL}},
		"topics":   harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{
			map[string]any{"id": "flaky", "type": "webhook", "url": flaky.srv.URL, "secret": secret, "topics": []string{"fentanyl"},
				"retry": map[string]any{"attempts": 5, "initial": "20ms", "max": "100ms"}},
			map[string]any{"id": "broken", "type": "webhook", "url": broken.srv.URL, "secret": secret, "topics": []string{"fentanyl"}, "retry": retry},
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}, "topics": []string{"fentanyl"}, "retry": retry},
		},
		"smtp": map[string]any{"host": mail.Host, "port": mail.Port, "tls": "none", "from": "alerts@example.org"},
	})

	code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", "60s")
	if code == 0 {
		t.Errorf("once exited 0 although a subscriber dead-lettered\nstdout: %s", stdout)
	}
	if !strings.Contains(stdout, "1 dead-lettered") {
		t.Errorf("summary = %q\nstderr: %s", stdout, stderr)
	}
	if want := "newswatch once: 1 delivery gave up: newswatch deadletters list -config " + path + " says why; replay sends again\n"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if got := alertsOf(t, flaky.hooks()); len(got) != 1 {
		t.Errorf("flaky receiver got %d alerts after retries, want 1", len(got))
	}
	if n := len(mail.Wait(1, 5*time.Second)); n != 1 {
		t.Errorf("email subscriber got %d messages, want 1", n)
	}
	broken.mu.Lock()
	calls := broken.calls
	broken.mu.Unlock()
	if calls != 3 {
		t.Errorf("broken receiver was tried %d times, want 3 (retry.attempts)", calls)
	}

	// The dead-letter stream holds the alert with every attempt's error.
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
	defer b.Close()
	dead, err := b.JS.Stream(ctx, b.Names.DeadStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dead.GetLastMsgForSubject(ctx, b.Names.DeadSubject("broken"))
	if err != nil {
		t.Fatalf("no dead letter for broken: %v", err)
	}
	var dl notifier.DeadLetter
	if err := json.Unmarshal(msg.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Alert.Topic != "fentanyl" || len(dl.Attempts) != 3 || !strings.Contains(dl.Attempts[2].Error, "502") {
		t.Errorf("dead letter = %+v", dl)
	}
	for _, other := range []string{"flaky", "analyst"} {
		if _, err := dead.GetLastMsgForSubject(ctx, b.Names.DeadSubject(other)); err == nil {
			t.Errorf("%s has a dead letter, want none", other)
		}
	}
	b.Close()

	// The deadletters command lists it, replays it once the receiver is
	// fixed, and then has nothing left.
	code, stdout, stderr = runCLI(t, "deadletters", "list", "-config", path, "-json")
	if code != 0 || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, `"subscriber":"broken"`) {
		t.Fatalf("deadletters list = %d %q %s", code, stdout, stderr)
	}
	// A list that cannot be written (a full disk under a redirect) says so.
	var errb bytes.Buffer
	if code := Main(ctx, []string{"deadletters", "list", "-config", path, "-json"}, strings.NewReader(""), failWriter{}, &errb); code != exitFailure || !strings.Contains(errb.String(), "no space left on device") {
		t.Errorf("deadletters list -json into a writer that fails: exit %d, stderr:\n%s", code, errb.String())
	}
	code, stdout, stderr = runCLI(t, "deadletters", "replay", "-config", path, "-subscriber", "broken")
	if code == 0 || !strings.Contains(stdout, "replayed 0, failed 1") {
		t.Errorf("replay to a still-broken receiver = %d %q %s", code, stdout, stderr)
	}
	brokenFixed.Store(true)
	code, stdout, stderr = runCLI(t, "deadletters", "replay", "-config", path, "-subscriber", "broken")
	if code != 0 || !strings.Contains(stdout, "replayed 1, failed 0") {
		t.Errorf("replay = %d %q %s", code, stdout, stderr)
	}
	if got := alertsOf(t, broken.hooks()); len(got) != 1 {
		t.Errorf("broken receiver has %d alerts after replay, want 1", len(got))
	}
	code, stdout, _ = runCLI(t, "deadletters", "list", "-config", path)
	if code != 0 || !strings.Contains(stdout, "0 dead letters") {
		t.Errorf("after replay: %q", stdout)
	}

	// Source state is kept for scripts.
	code, stdout, _ = runCLI(t, "sources", "-config", path, "-json")
	var st map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil {
		t.Fatalf("sources -json = %d %q", code, stdout)
	}
	for _, k := range []string{"id", "url", "status", "http_status", "error", "consecutive_failures", "last_success", "next_due", "items_seen"} {
		if _, ok := st[k]; !ok {
			t.Errorf("sources -json lacks %q: %v", k, st)
		}
	}
	if st["status"] != "ok" || st["items_seen"].(float64) != 4 || st["http_status"].(float64) != 200 {
		t.Errorf("sources -json = %v", st)
	}
}
