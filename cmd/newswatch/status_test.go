package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/internal/browser"
	"newswatch/internal/harness"
	"newswatch/internal/logtest"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "also write the status page screenshots to docs/status.png and docs/status-phone.png")

// artifacts is where test artifacts (screenshots) go; CI keeps the
// directory. NEWSWATCH_ARTIFACTS overrides it.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NEWSWATCH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runningDaemon is `newswatch run` in-process, with its HTTP address.
type runningDaemon struct {
	base   string
	path   string
	cfg    map[string]any
	stderr *logtest.Buffer
	stop   func() // stops the daemon and waits for it (once)
}

const (
	opsUser  = "ops"
	opsPass  = "status-page-pw-31337"
	opsToken = "status-token-27182818"
)

// startDaemon runs the daemon on cfg (written to a file) until the test
// ends, and waits for its HTTP listener.
func startDaemon(t *testing.T, dir string, cfg map[string]any) *runningDaemon {
	t.Helper()
	d := &runningDaemon{path: harness.WriteConfig(t, dir, cfg), cfg: cfg, stderr: &logtest.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "-config", d.path, "-shutdown-timeout", "10s"}, strings.NewReader(""), io.Discard, d.stderr)
	}()
	d.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("run exited %d\n%s", code, d.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("run did not stop within 30s")
		}
	})
	t.Cleanup(d.stop)
	re := regexp.MustCompile(`msg="http listening" addr=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(d.stderr.String()); m != nil {
			d.base = "http://" + m[1]
			return d
		}
		select {
		case code := <-done:
			t.Fatalf("run exited %d before listening\n%s", code, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no http listener after 30s\n%s", d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *runningDaemon) do(t *testing.T, method, path, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func bearer() string { return "Bearer " + opsToken }

func basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(opsUser+":"+opsPass))
}

// TestStatusPageInBrowser runs the daemon on real data (a feed with the
// seed article, a feed that is gone, a webhook that receives alerts and
// one that dead-letters), then loads the status page in headless
// Chromium, through the auth, on a desktop and a phone screen. A dozen
// sources with long URLs make the page as crowded as a real one.
func TestStatusPageInBrowser(t *testing.T) {
	browser.Exe(t)
	feed := feedServer(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(gone.Close)
	quiet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>`)
	}))
	t.Cleanup(quiet.Close)
	desk := newReceiver(t, nil)
	pager := newReceiver(t, func(int) int { return http.StatusBadGateway })
	t.Setenv("NW_STATUS_PW", opsPass)
	dir := t.TempDir()
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http": map[string]any{"listen": "127.0.0.1:0", "auth": map[string]any{
			"basic": map[string]any{"username": opsUser, "password": "${NW_STATUS_PW}"}, "bearer_token": opsToken}},
		"log":   map[string]any{"level": "info"},
		"fetch": map[string]any{"interval": "1h"},
		"sources": []any{
			map[string]any{"id": "wire", "url": feed.URL, "interval": "2s"},
			map[string]any{"id": "old-feed", "url": gone.URL + "/rss.xml", "interval": "2s"},
		},
		"topics": harness.RepoTopics(t, "../../config.yaml"),
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": desk.srv.URL, "secret": secret},
			map[string]any{"id": "pager", "type": "webhook", "url": pager.srv.URL + "/T0/B0/pager-hook-token", "secret": secret,
				"topics": []string{"fentanyl"}, "retry": map[string]any{"attempts": 1, "initial": "10ms", "max": "10ms"}},
		},
	}
	urls := map[string]string{"wire": feed.URL, "old-feed": gone.URL + "/rss.xml"}
	for i := range 10 {
		id := fmt.Sprintf("regional-%02d", i)
		urls[id] = fmt.Sprintf("%s/feeds/regional/north-east-agriculture-and-rural-affairs/%d/0.xml", quiet.URL, i)
		cfg["sources"] = append(cfg["sources"].([]any), map[string]any{"id": id, "url": urls[id], "interval": "1h"})
	}
	d := startDaemon(t, dir, cfg)

	// Auth: /healthz is open, everything else needs basic auth or the token.
	if code, _ := d.do(t, "GET", "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz without auth = %d", code)
	}
	for _, p := range []string{"/", "/api/sources", "/metrics", "/readyz"} {
		if code, _ := d.do(t, "GET", p, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without auth = %d, want 401", p, code)
		}
	}
	if code, _ := d.do(t, "GET", "/", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("/ with a wrong token = %d, want 401", code)
	}
	if code, _ := d.do(t, "POST", "/-/reload", ""); code != http.StatusUnauthorized {
		t.Errorf("reload without auth = %d, want 401", code)
	}

	// Real data: the scheduler fetches, the classifier raises alerts, desk
	// gets them and pager dead-letters.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var alerts struct{ Alerts []json.RawMessage }
		var dead struct {
			DeadLetters []json.RawMessage `json:"dead_letters"`
		}
		_, a := d.do(t, "GET", "/api/alerts", bearer())
		_, dl := d.do(t, "GET", "/api/deadletters", basic())
		_ = json.Unmarshal([]byte(a), &alerts)
		_ = json.Unmarshal([]byte(dl), &dead)
		if len(alerts.Alerts) >= 2 && len(dead.DeadLetters) >= 1 && len(desk.hooks()) >= 1 { // the seed article once, with both topics
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alerts and dead letter after 60s: alerts %s\ndead %s\n%s", a, dl, d.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	desktop, phone := browse(t, d.base+"/", urls)
	for name, shot := range map[string][]byte{"status.png": desktop, "status-phone.png": phone} {
		path := filepath.Join(artifacts(t), name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
		if *updateScreenshot {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", name), shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// POST /-/reload puts a changed config in force.
	cfg["sources"] = append(cfg["sources"].([]any), map[string]any{"id": "added-later", "url": feed.URL + "/other", "interval": "1h"})
	harness.WriteConfig(t, dir, cfg)
	if code, body := d.do(t, "POST", "/-/reload", bearer()); code != http.StatusOK {
		t.Fatalf("reload = %d %s", code, body)
	}
	if _, body := d.do(t, "GET", "/api/sources?q=added", bearer()); !strings.Contains(body, `"id": "added-later"`) {
		t.Errorf("after reload, /api/sources?q=added = %s", body)
	}
	// An invalid config is rejected with its reasons; the old one stays.
	cfg["sourcez"] = []any{}
	harness.WriteConfig(t, dir, cfg)
	code, body := d.do(t, "POST", "/-/reload", basic())
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `unknown key "sourcez" (did you mean "sources"?)`) {
		t.Errorf("reload of an invalid config = %d %s", code, body)
	}
	if _, body := d.do(t, "GET", "/api/sources", bearer()); !strings.Contains(body, fmt.Sprintf(`"total": %d`, len(urls)+1)) {
		t.Errorf("after a rejected reload, /api/sources = %s", body)
	}
	for _, s := range []string{opsPass, opsToken, "pager-hook-token", secret} {
		for _, p := range []string{"/", "/api/subscribers", "/api/deadletters", "/api/sources"} {
			if _, body := d.do(t, "GET", p, bearer()); strings.Contains(body, s) {
				t.Errorf("%s serves the secret %q", p, s)
			}
		}
		if strings.Contains(d.stderr.String(), s) {
			t.Errorf("the log holds the secret %q", s)
		}
	}
}

// browse loads the status page in headless Chromium, checks what a
// reader sees on a desktop and on a phone, and returns a full-page PNG of
// the desktop and one of the phone's first screen. urls are the
// configured sources' URLs by id.
func browse(t *testing.T, url string, urls map[string]string) (desktop, phone []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := browser.Start(ctx, t, 1280, 900)
	if _, err := chromedp.Call(bctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": basic()},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#sources-table")),
	); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	eval := func(js string, v any) {
		t.Helper()
		got, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		if err := json.Unmarshal(got, v); err != nil {
			t.Fatalf("evaluate %s: %v (%s)", js, err, got)
		}
	}
	rows := map[string]string{}
	eval(`Object.fromEntries([...document.querySelectorAll('#sources-table tr.source')].map(r => [r.dataset.source, r.innerText.replace(/\s+/g, ' ')]))`, &rows)
	if len(rows) != len(urls) || !strings.HasPrefix(rows["wire"], "wire ") || !strings.Contains(rows["wire"], " ok ") ||
		!strings.Contains(rows["old-feed"], "error") || !strings.Contains(rows["old-feed"], "the feed is gone (HTTP 404)") {
		t.Errorf("sources table rows = %q", rows)
	}
	var attention string
	eval(`(document.querySelector('#attention') || {}).innerText || ''`, &attention)
	if !strings.Contains(attention, "old-feed") || !strings.Contains(attention, "the feed is gone (HTTP 404)") || !strings.Contains(attention, "pager") {
		t.Errorf("needs attention = %q, want the failing source and the dead-lettering subscriber", attention)
	}
	var alert struct {
		Title string
		Marks []string
		Topic string
	}
	eval(`(() => { const a = document.querySelector('#alerts-list article.alert'); return a && {
		title: a.querySelector('h3').innerText,
		marks: [...a.querySelectorAll('mark')].map(m => m.innerText),
		topic: a.querySelector('.badge').innerText }; })()`, &alert)
	if alert.Title != "US and China fentanyl cooperation stalls" || len(alert.Marks) == 0 || alert.Topic == "" {
		t.Errorf("first alert = %+v", alert)
	}
	var dead int
	eval(`document.querySelectorAll('#dead-table tr.dead').length`, &dead)
	if dead < 1 {
		t.Errorf("dead letters shown: %d", dead)
	}
	readable := func(screen string) {
		t.Helper()
		// What needs attention, then the latest alerts, then the rest.
		var order []string
		eval(`[...document.querySelectorAll('#attention, #alerts, #sources-table, #topics-table, #subscribers-table')].map(e => e.id)`, &order)
		if got := strings.Join(order, " "); got != "attention alerts sources-table topics-table subscribers-table" {
			t.Errorf("%s: sections in the order %q", screen, got)
		}
		// Each source URL on one line, the whole of it on hover.
		var shown []struct{ ID, Text, Full string }
		eval(`[...document.querySelectorAll('#sources-table tr.source')].map(r => { const u = r.querySelector('.url');
			if (!u) return {id: r.dataset.source, text: '', full: ''};
			const line = u.querySelector('summary') || u, t = u.querySelector('[title]');
			const lh = parseFloat(getComputedStyle(line).lineHeight) || 20, h = line.getBoundingClientRect().height;
			const text = h > 1.5 * lh ? 'wraps over ' + Math.round(h / lh) + ' lines' : line.scrollWidth > line.clientWidth + 1 ? 'clipped' : line.innerText.trim();
			return {id: r.dataset.source, text: text, full: t ? t.title : u.innerText.trim()}; })`, &shown)
		for _, s := range shown {
			if s.Full != urls[s.ID] || strings.HasPrefix(s.Text, "wraps") || s.Text == "clipped" || len(s.Text) > len(s.Full) || s.Text == "" {
				t.Errorf("%s: source %s shows its URL as %q, whole %q; want one line of %q", screen, s.ID, s.Text, s.Full, urls[s.ID])
			}
		}
		// Nothing scrolls sideways, neither the page nor a box in it.
		var widths struct {
			Page, Screen int
			Wide         []string
		}
		eval(`({page: document.documentElement.scrollWidth, screen: window.innerWidth,
			wide: [...document.querySelectorAll('body *')].filter(e => e.scrollWidth > e.clientWidth + 1 && /auto|scroll/.test(getComputedStyle(e).overflowX)
				|| e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))})`, &widths)
		if widths.Page > widths.Screen || len(widths.Wide) > 0 {
			t.Errorf("%s: the page is %dpx wide (screen %dpx); wider than the screen or scrolling sideways: %q", screen, widths.Page, widths.Screen, widths.Wide)
		}
	}
	readable("desktop")
	desktop, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}

	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#sources-table")),
	); err != nil {
		t.Fatalf("phone view: %v", err)
	}
	readable("390px phone")
	// The first screen is what a phone shows: what needs attention and
	// the latest alerts.
	if phone, err = chromedp.Run(bctx, chromedp.CaptureScreenshot()); err != nil {
		t.Fatalf("phone screenshot: %v", err)
	}
	// A tap on a cut URL shows the whole of it, still within the screen.
	const long = "regional-03"
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`tr[data-source="`+long+`"] .url summary`))); err != nil {
		t.Fatalf("tap the URL of %s: %v", long, err)
	}
	var tapped string
	eval(`document.querySelector('tr[data-source="`+long+`"] .url .full').innerText.replace(/\s+/g, '')`, &tapped)
	if tapped != urls[long] {
		t.Errorf("tapped URL of %s shows %q, want %q", long, tapped, urls[long])
	}
	readable("390px phone, a URL tapped")
	return desktop, phone
}
