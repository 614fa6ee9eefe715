package pipeline

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/news"
)

// TestWebSubPushReachesSubscribers runs the daemon with websub set up
// against a hub served by the test: the first poll discovers the hub, the
// daemon subscribes and answers the verification, and an item the hub
// pushes — one the feed never shows to polling — is alerted.
func TestWebSubPushReachesSubscribers(t *testing.T) {
	var hubURL, feedURL string
	feedBody := func(items string) string {
		return fmt.Sprintf(`<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>
<atom:link rel="hub" href="%s"/><atom:link rel="self" href="%s"/>%s</channel></rss>`, hubURL, feedURL, items)
	}
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, feedBody(`<item><guid>old</guid><title>Weather report</title><link>https://news.example.org/old</link></item>`))
	}))
	defer feed.Close()
	feedURL = feed.URL

	type sub struct{ callback, secret, topic string }
	subs := make(chan sub, 4)
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("hub.mode") != "subscribe" {
			http.Error(w, "bad mode", 400)
			return
		}
		subs <- sub{r.Form.Get("hub.callback"), r.Form.Get("hub.secret"), r.Form.Get("hub.topic")}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hub.Close()
	hubURL = hub.URL

	var mu sync.Mutex
	var titles []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a news.Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		titles = append(titles, a.Article.Title)
		mu.Unlock()
	}))
	defer hook.Close()

	var handler http.Handler
	var hmu sync.Mutex
	callbacks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		h := handler
		hmu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer callbacks.Close()

	cfg := testConfig(t, func(c *config.Config) {
		c.HTTP.Listen = "127.0.0.1:0"
		c.WebSub.CallbackURL = callbacks.URL + "/websub/"
		c.Fetch.AllowPrivateNetworks = true // the hub is on loopback
		c.Sources = []config.Source{{ID: "wire", URL: feed.URL, Interval: time.Hour}}
		c.Subscribers = []config.Subscriber{{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: hook.URL, Secret: "s3cret"}}}
	})
	b := openBus(t, cfg)
	p, err := New(cfg, b, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix, h := p.WebSub()
	if prefix != "/websub/" || h == nil {
		t.Fatalf("WebSub() = %q, %v", prefix, h)
	}
	hmu.Lock()
	handler = h
	hmu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, AllRoles) }()
	defer func() { cancel(); <-done }()

	var s sub
	select {
	case s = <-subs:
	case <-time.After(15 * time.Second):
		t.Fatal("the daemon never subscribed at the hub")
	}
	if s.topic != feed.URL || !strings.HasPrefix(s.callback, callbacks.URL+"/websub/") || s.secret == "" {
		t.Fatalf("subscription = %+v", s)
	}
	// Verification of intent: the callback echoes the challenge.
	q := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {s.topic}, "hub.challenge": {"c-123"}, "hub.lease_seconds": {"3600"}}
	resp, err := http.Get(s.callback + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "c-123" {
		t.Fatalf("verification answered %d %q", resp.StatusCode, body)
	}

	push := func(secret string) int {
		content := feedBody(`<item><guid>pushed</guid><title>Fentanyl shipment seized in port raid</title><link>https://news.example.org/pushed</link></item>`)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(content))
		req, _ := http.NewRequest(http.MethodPost, s.callback, strings.NewReader(content))
		req.Header.Set("Content-Type", "application/rss+xml")
		req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	push("not the secret") // ignored: a forged push must not alert
	if code := push(s.secret); code/100 != 2 {
		t.Fatalf("push answered %d", code)
	}
	waitFor(t, 15*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(titles) > 0 })
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if fmt.Sprint(titles) != "[Fentanyl shipment seized in port raid]" {
		t.Errorf("alerts = %q, want the pushed item once", titles)
	}
	mu.Unlock()

	// While the hub pushes, the feed is polled less often.
	if _, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil {
		t.Fatal(err)
	}
	st, _ := LoadState(ctx, b.StateKV(), "wire")
	if gap := st.NextDue.Sub(st.LastFetch); gap < (pushedPollFactor-1)*time.Hour {
		t.Errorf("next poll %s after the last one, want about %d intervals while the hub pushes", gap, pushedPollFactor)
	}
}
