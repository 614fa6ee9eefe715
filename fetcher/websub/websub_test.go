package websub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	"newswatch/fetcher/fetchtest"
	"newswatch/fetcher/httpc"
	"newswatch/news"
)

// testHub is a minimal WebSub hub: it accepts subscriptions, verifies
// intent by calling the subscriber back, and publishes signed content.
type testHub struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	callback  string
	secret    string
	topic     string
	verified  chan error
	requests  int
	leaseSecs string
}

func newTestHub(t *testing.T) *testHub {
	h := &testHub{t: t, verified: make(chan error, 10), leaseSecs: "3600"}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", 400)
			return
		}
		h.mu.Lock()
		h.requests++
		h.callback, h.secret, h.topic = r.Form.Get("hub.callback"), r.Form.Get("hub.secret"), r.Form.Get("hub.topic")
		mode := r.Form.Get("hub.mode")
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		go h.verify(mode)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *testHub) verify(mode string) {
	h.mu.Lock()
	cb, topic, lease := h.callback, h.topic, h.leaseSecs
	h.mu.Unlock()
	q := url.Values{"hub.mode": {mode}, "hub.topic": {topic}, "hub.challenge": {"c-123"}, "hub.lease_seconds": {lease}}
	resp, err := http.Get(cb + "?" + q.Encode())
	if err != nil {
		h.verified <- err
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "c-123" {
		h.verified <- fmt.Errorf("verification answered %d %q", resp.StatusCode, b)
		return
	}
	h.verified <- nil
}

func (h *testHub) publish(body string, secret string) int {
	h.mu.Lock()
	cb := h.callback
	h.mu.Unlock()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, cb, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/rss+xml")
	req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// testClient is a client without host limits, for loopback servers.
func testClient(allowPrivate bool) *httpc.Client {
	return httpc.New(httpc.Options{UserAgent: "newswatch-test", Timeout: 5 * time.Second, MaxBody: 10 << 20,
		PerHost: 8, HostInterval: -1, AllowPrivateNetworks: allowPrivate})
}

// noProxy clears proxy settings, which turn the private-network guard off.
func noProxy(t *testing.T) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, "")
	}
}

func TestWebSub(t *testing.T) {
	hub := newTestHub(t)
	var mu sync.Mutex
	var got []news.Article
	f := testClient(true)

	mux := http.NewServeMux()
	subscriber := httptest.NewServer(mux)
	defer subscriber.Close()
	ws, err := New(f, subscriber.URL+"/websub", []byte("0123456789abcdef-key"), nil,
		func(ctx context.Context, src config.Source, arts []news.Article) error {
			mu.Lock()
			got = append(got, arts...)
			mu.Unlock()
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/websub/", ws)

	src := config.Source{ID: "pushy", Type: "feed", URL: "https://news.example/feed.xml"}
	if err := ws.Subscribe(context.Background(), src, hub.srv.URL, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-hub.verified:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hub never verified")
	}
	st, ok := ws.Status("pushy")
	if !ok || !st.Active || st.Topic != src.URL || time.Until(st.Expires) > time.Hour+time.Minute || time.Until(st.Expires) < 59*time.Minute {
		t.Fatalf("status after verification: %+v", st)
	}
	if !strings.HasSuffix(hub.callback, "/websub/pushy") || hub.secret == "" {
		t.Errorf("callback %q secret %q", hub.callback, hub.secret)
	}

	// A push signed with the wrong secret is acknowledged and dropped.
	if code := hub.publish(fetchtest.RSS, "wrong secret"); code != http.StatusAccepted {
		t.Errorf("forged push answered %d", code)
	}
	if len(got) != 0 {
		t.Fatalf("forged push delivered %d articles", len(got))
	}
	if code := hub.publish(fetchtest.RSS, hub.secret); code != http.StatusNoContent {
		t.Errorf("push answered %d", code)
	}
	if len(got) != 2 || got[0].Source != "pushy" || got[0].Title != "Fentanyl & precursors" {
		t.Fatalf("delivered %+v", got)
	}
	if st, _ := ws.Status("pushy"); st.LastPush.IsZero() {
		t.Error("last push not recorded")
	}

	// Renew: with the lease nearly over, the subscription is renewed.
	ws.now = func() time.Time { return time.Now().Add(59 * time.Minute) }
	if err := ws.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-hub.verified; err != nil {
		t.Fatal(err)
	}
	if hub.requests != 2 {
		t.Errorf("hub saw %d requests, want 2 (subscribe, renew)", hub.requests)
	}
	if st, _ := ws.Status("pushy"); !st.Active {
		t.Error("renewed subscription not active")
	}

	// Unknown sources and wrong topics get 404.
	resp, _ := http.Get(subscriber.URL + "/websub/other?hub.mode=subscribe&hub.topic=x&hub.challenge=y")
	if resp.StatusCode != 404 {
		t.Errorf("unknown source: %d", resp.StatusCode)
	}
	resp, _ = http.Get(subscriber.URL + "/websub/pushy?hub.mode=subscribe&hub.topic=https://evil.example/&hub.challenge=y")
	if resp.StatusCode != 404 {
		t.Errorf("wrong topic: %d", resp.StatusCode)
	}
}

func TestWebSubGuardsHub(t *testing.T) {
	noProxy(t)
	hub := newTestHub(t)
	ws, err := New(testClient(false), "https://newswatch.example/websub/", []byte("0123456789abcdef"), nil,
		func(context.Context, config.Source, []news.Article) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	err = ws.Subscribe(context.Background(), config.Source{ID: "s", URL: "https://x.example/f"}, hub.srv.URL, "")
	if err == nil || !strings.Contains(err.Error(), "not public") {
		t.Errorf("hub on loopback: err = %v", err)
	}
}

func TestDiscoverHub(t *testing.T) {
	base, _ := url.Parse("https://news.example/feed.xml")
	tests := []struct {
		name      string
		header    http.Header
		body      string
		hub, self string
	}{
		{"atom", nil, `<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="https://hub.example/"/><link href="/feed.xml" rel='self'/>`, "https://hub.example/", "https://news.example/feed.xml"},
		{"rss atom:link", nil, `<rss><channel><atom:link rel="hub" href="https://pubsubhubbub.appspot.com/"/>`, "https://pubsubhubbub.appspot.com/", ""},
		{"link header", http.Header{"Link": {`<https://hub.example/h>; rel="hub", <https://news.example/self>; rel="self"`}}, `<rss/>`, "https://hub.example/h", "https://news.example/self"},
		{"none", nil, `<rss><channel><link>https://news.example/</link>`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub, self := DiscoverHub(tt.header, []byte(tt.body), base)
			if hub != tt.hub || self != tt.self {
				t.Errorf("got %q %q, want %q %q", hub, self, tt.hub, tt.self)
			}
		})
	}
}
