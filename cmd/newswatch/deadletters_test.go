package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/notifier"
)

// deliveriesOK reads newswatch_deliveries_total{outcome="ok"} of a
// subscriber from the daemon's metrics registry, as /metrics serves it.
func deliveriesOK(t *testing.T, d *runningDaemon, subscriber string) float64 {
	t.Helper()
	code, text := d.do(t, "GET", "/metrics", bearer())
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	re := regexp.MustCompile(`(?m)^newswatch_deliveries_total\{outcome="ok",subscriber="` + regexp.QuoteMeta(subscriber) + `"\} (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// postReplay asks the daemon's replay endpoint directly.
func postReplay(t *testing.T, d *runningDaemon, query, body string) (int, replayReport) {
	t.Helper()
	req, err := http.NewRequest("POST", d.base+"/-/deadletters/replay"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearer())
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var rep replayReport
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("replay answer: %v: %s", err, data)
		}
	}
	return resp.StatusCode, rep
}

// While a daemon holds data_dir, `deadletters replay` has it deliver: a
// dead letter kept while its receiver still fails, delivered and removed
// once it works, as the follow-up of the story it continues, and counted
// in the daemon's metrics.
func TestDeadLettersReplayThroughDaemon(t *testing.T) {
	feeds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`+
			`<item><guid>g1</guid><title>Record fentanyl seizure at Arizona border crossing</title><link>https://news.example.org/g1</link><description>Agents seized fentanyl.</description></item>`+
			`<item><guid>g2</guid><title>Record fentanyl seizure at Arizona border crossing, officials say</title><link>https://other.example.org/g2</link><description>Officials say agents seized fentanyl.</description></item>`+
			`</channel></rss>`)
	}))
	t.Cleanup(feeds.Close)
	// The first alert is taken; the second, a later report of the same
	// story, is refused for good (400) until the receiver is fixed.
	var fixed atomic.Bool
	rc := newReceiver(t, func(n int) int {
		if n == 1 || fixed.Load() {
			return http.StatusNoContent
		}
		return http.StatusBadRequest
	})
	t.Setenv("NW_REPLAY_TOKEN", opsToken)
	dir := t.TempDir()
	d := startDaemon(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": freeAddr(t), "auth": map[string]any{"bearer_token": "${NW_REPLAY_TOKEN}"}},
		"log":      map[string]any{"level": "info"},
		"sources":  []any{map[string]any{"id": "wire", "url": feeds.URL + "/feed.xml", "interval": "1h"}},
		"topics":   []any{map[string]any{"id": "fentanyl", "query": "fentanyl"}},
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": rc.srv.URL + "/hook", "secret": secret,
				"retry": map[string]any{"attempts": 1, "initial": "10ms", "max": "10ms"}},
		},
	})
	waitUntil(t, 60*time.Second, "a dead letter", func() bool {
		_, dl := d.do(t, "GET", "/api/deadletters", bearer())
		return strings.Contains(dl, `"seq"`)
	})
	if got := deliveriesOK(t, d, "desk"); got != 1 {
		t.Fatalf("deliveries ok before the replay = %v, want 1", got)
	}
	firstID := alertsOf(t, rc.hooks())
	if len(firstID) != 1 {
		t.Fatalf("receiver has %d alerts, want 1", len(firstID))
	}

	// The endpoint takes the same auth as the rest, and its filters from
	// the query or a JSON body.
	if code, _ := d.do(t, "POST", "/-/deadletters/replay", ""); code != http.StatusUnauthorized {
		t.Errorf("replay without auth: %d, want 401", code)
	}
	if code, _ := postReplay(t, d, "?seq=x", ""); code != http.StatusBadRequest {
		t.Errorf("replay with seq=x: %d, want 400", code)
	}
	if code, rep := postReplay(t, d, "", `{"seq": 999999}`); code != http.StatusOK || rep.Replayed+rep.Failed != 0 {
		t.Errorf("replay of a seq that is not there: %d %+v", code, rep)
	}

	code, out, errs := runCLI(t, "deadletters", "replay", "-config", d.path, "-subscriber", "desk")
	if code == 0 || !strings.Contains(out, "replayed 0, failed 1") || !strings.Contains(errs, "→ desk): ") || !strings.Contains(errs, "; kept") {
		t.Errorf("replay to a receiver that still refuses = %d %q %q", code, out, errs)
	}
	if _, dl := d.do(t, "GET", "/api/deadletters", bearer()); !strings.Contains(dl, `"seq"`) {
		t.Fatalf("a failed replay removed the dead letter: %s", dl)
	}

	fixed.Store(true)
	code, out, errs = runCLI(t, "deadletters", "replay", "-config", d.path, "-subscriber", "desk")
	if code != 0 || out != "replayed 1, failed 0\n" || errs != "" {
		t.Fatalf("replay = %d %q %q\n%s", code, out, errs, d.stderr)
	}
	if _, dl := d.do(t, "GET", "/api/deadletters", bearer()); strings.Contains(dl, `"seq"`) {
		t.Errorf("the replayed dead letter is still there: %s", dl)
	}
	hooks := rc.hooks()
	if len(hooks) != 2 {
		t.Fatalf("receiver has %d alerts after the replay, want 2", len(hooks))
	}
	verify(t, hooks[1])
	var p struct {
		Type  string `json:"type"`
		Story *struct {
			ID string `json:"id"`
		} `json:"story"`
	}
	if err := json.Unmarshal(hooks[1].Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != notifier.EventFollowUp || p.Story == nil || firstID[p.Story.ID].ID == "" {
		t.Errorf("replayed report is not a follow-up of the story's first alert %v: %s", keys(firstID), hooks[1].Body)
	}
	if got := deliveriesOK(t, d, "desk"); got != 2 {
		t.Errorf(`newswatch_deliveries_total{outcome="ok",subscriber="desk"} after the replay = %v, want 2`, got)
	}
	if !regexp.MustCompile(`(?m)^.*msg=delivered subscriber=desk .*by_hand=true.*follow_up=true`).MatchString(d.stderr.String()) {
		t.Errorf("the daemon did not log the replayed delivery:\n%s", d.stderr)
	}
}
