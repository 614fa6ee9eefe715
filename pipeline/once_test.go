package pipeline

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/news"
	"newswatch/notifier"
)

// TestOnceLeavesNothingInFlight runs two passes on one bus. Each ends its
// waiting pulls as soon as the queues are empty; none may leave an article
// or alert handed out and unacknowledged, which would hold it (and a
// subscriber's whole queue) until its ack wait ran out: the second pass
// delivers its new item within its own short timeout.
func TestOnceLeavesNothingInFlight(t *testing.T) {
	f := newFeed(t)
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a news.Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		got = append(got, a.Article.Title)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL}}
		c.Subscribers = []config.Subscriber{{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: hook.URL, Secret: "s3cret"}}}
	})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	inFlight := func(stream, consumer string) (pending uint64, ackPending int) {
		t.Helper()
		c, err := b.JS.Consumer(ctx, stream, consumer)
		if err != nil {
			t.Fatalf("consumer %s: %v", consumer, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("consumer %s: %v", consumer, err)
		}
		return info.NumPending, info.NumAckPending
	}
	for pass, titles := range [][]string{{"Fentanyl ring broken up", "Weather: sunny"}, {"Second fentanyl story"}} {
		f.add(titles...)
		p, err := New(cfg, b, discard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := p.Once(ctx, 15*time.Second)
		if err != nil || sum.TimedOut || !sum.OK() {
			t.Fatalf("pass %d: %v, %+v", pass+1, err, sum)
		}
		for _, c := range []struct{ stream, name string }{
			{b.Names.ArticleStream, "classifier"},
			{b.Names.AlertStream, notifier.ConsumerName("desk")},
		} {
			if n, ack := inFlight(c.stream, c.name); n != 0 || ack != 0 {
				t.Errorf("pass %d: consumer %s has %d pending, %d unacknowledged", pass+1, c.name, n, ack)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "Fentanyl ring broken up" || got[1] != "Second fentanyl story" {
		t.Errorf("delivered %q, want both fentanyl stories once each", got)
	}
}
