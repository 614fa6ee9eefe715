package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/logtest"
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
	hook := newTitleHook(t)
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
	if got := hook.titles(); len(got) != 2 || got[0] != "Fentanyl ring broken up" || got[1] != "Second fentanyl story" {
		t.Errorf("delivered %q, want both fentanyl stories once each", got)
	}
}

// A store error in one source's fetch (here its state save, refused
// after its articles were stored) ended the pass before the classifier
// started: the articles every other source stored in that pass were
// neither classified nor delivered by it. The pass now classifies and
// delivers what was stored, and still fails with the store error.
func TestOnceStoreErrorStillClassifiesWhatWasStored(t *testing.T) {
	short, long := newFeed(t), newFeed(t)
	short.add("Fentanyl seizure at the port")
	long.add("Fentanyl lab found")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{
			{ID: "short", URL: short.srv.URL, Interval: time.Minute},
			// Its state, which holds the URL, is too big for the bucket.
			{ID: "long", URL: long.srv.URL + "/?pad=" + strings.Repeat("x", 2048), Interval: time.Minute},
		}
	})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := b.JS.Stream(ctx, "KV_"+b.Names.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	sc.MaxMsgSize = 1024
	if _, err := b.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	sum, err := newPipeline(t, cfg, b).Once(ctx, 10*time.Second)
	if err == nil {
		t.Error("a pass whose state save failed succeeded")
	}
	if sum.NewArticles == 0 || sum.Alerts != sum.NewArticles {
		t.Errorf("alerts = %d, want one per new article: the stored articles were left unclassified (%+v; %v)", sum.Alerts, sum, err)
	}
}

// Delivering while the classifier still wrote alerts had the embedded
// server read older blocks of the alert stream besides the one being
// written, a block-sized buffer each: most of a full refresh's peak
// memory. A pass now delivers only once the classifier has drained, and
// still delivers every alert once.
func TestOnceDeliversAfterTheClassifierHasDrained(t *testing.T) {
	f := newFeed(t)
	const n = 300
	for i := range n {
		f.add(fmt.Sprintf("Fentanyl story %d", i))
	}
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL}}
	})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	got := map[string]int{}
	var early []string // deliveries while the classifier had articles left
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a news.Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		st, found, err := b.LookupConsumer(r.Context(), b.Names.ArticleStream, classifierConsumer)
		mu.Lock()
		defer mu.Unlock()
		got[a.Article.Title]++
		if err != nil || !found || st.Backlog() != 0 {
			early = append(early, fmt.Sprintf("%s (classifier backlog %d, %v)", a.Article.Title, st.Backlog(), err))
		}
	}))
	defer hook.Close()
	cfg.Subscribers = []config.Subscriber{{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: hook.URL, Secret: "s3cret"}}}

	p, err := New(cfg, b, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Once(ctx, 30*time.Second)
	if err != nil || !sum.OK() {
		t.Fatalf("%v, %+v", err, sum)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("%d of %d deliveries while the classifier had articles left, first %s", len(early), n, early[0])
	}
	if len(got) != n {
		t.Errorf("delivered %d distinct alerts, want %d", len(got), n)
	}
	for title, k := range got {
		if k != 1 {
			t.Errorf("%q delivered %d times", title, k)
		}
	}
}

// A classifier that cannot drain (here one article's alert is refused by
// the alert stream, again and again) must not hold back the alerts it
// did store: the subscribers start pulling halfway through the pass.
func TestOnceDeliversHalfwayWhenTheClassifierCannotDrain(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure at the port", "Fentanyl "+strings.Repeat("long title ", 400))
	hook := newTitleHook(t)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL}}
		c.Subscribers = []config.Subscriber{{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: hook.URL, Secret: "s3cret"}}}
	})
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := b.JS.Stream(ctx, b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	sc.MaxMsgSize = 2 << 10 // the long title's alert is over it, the short one's under
	if _, err := b.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}

	var logs logtest.Buffer
	p, err := New(cfg, b, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := p.Once(ctx, 6*time.Second)
	if !sum.TimedOut {
		t.Errorf("the pass did not time out: %+v", sum)
	}
	if got := hook.titles(); len(got) != 1 || got[0] != "Fentanyl seizure at the port" {
		t.Errorf("delivered %q, want the stored alert", got)
	}
	// The operator is told the classifier did not finish, and how much.
	if l := logs.String(); !strings.Contains(l, "before the classifier took every article") || !strings.Contains(l, "unclassified=1") {
		t.Errorf("no WARN naming the unclassified article:\n%s", l)
	}
}
