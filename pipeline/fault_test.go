package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

// jsonItem is one item of a JSON Feed served by jsonFeed.
type jsonItem struct {
	ID      string `json:"id"`
	URL     string `json:"url,omitempty"`
	Title   string `json:"title"`
	Summary string `json:"summary,omitempty"`
	Text    string `json:"content_text,omitempty"`
}

// jsonFeed serves a JSON Feed of items at /feed.json; other paths go to
// pages, when set (same scheme, host and port as the feed).
func jsonFeed(t *testing.T, items func() []jsonItem, pages http.HandlerFunc) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/feed.json" {
			if pages == nil {
				http.NotFound(w, r)
				return
			}
			pages(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/feed+json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"version": "https://jsonfeed.org/version/1.1",
			"title":   "t",
			"items":   items(),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// articlesIn returns the articles stored in the article stream, by id.
func articlesIn(t *testing.T, b *bus.Bus) map[string]news.Article {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := b.JS.Stream(ctx, b.Names.ArticleStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]news.Article{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var a news.Article
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		out[a.Title] = a
	}
	return out
}

func newPipeline(t *testing.T, cfg *config.Config, b *bus.Bus) *Pipeline {
	t.Helper()
	p, err := New(cfg, b, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An item of 4 MB of text used to fail the publish of its whole feed,
// forever: it is now cut to news.MaxFieldBytes and its siblings go on.
func TestOversizedItemDoesNotBlindItsSource(t *testing.T) {
	big := strings.Repeat("fentanyl précurseur ", 3<<19/20) // 1.5 MB: over the 1 MB message limit
	srv := jsonFeed(t, func() []jsonItem {
		return []jsonItem{
			{ID: "a", Title: "before", Text: "small"},
			{ID: "b", Title: "huge", Text: big, Summary: big},
			{ID: "c", Title: "after", Text: "small"},
		}
	}, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "big", URL: srv.URL + "/feed.json", Interval: 20 * time.Second}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx := context.Background()
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil {
		t.Fatalf("fetch: %v / %v", err, r.Err)
	}
	if r.New != 3 {
		t.Errorf("published %d articles, want 3", r.New)
	}
	arts := articlesIn(t, b)
	huge, ok := arts["huge"]
	if !ok || arts["before"].ID == "" || arts["after"].ID == "" {
		t.Fatalf("stored articles: %d, huge stored: %v", len(arts), ok)
	}
	if !huge.Truncated || len(huge.Content) > news.MaxFieldBytes || len(huge.Summary) > news.MaxFieldBytes ||
		!utf8.ValidString(huge.Content) || len(huge.Content) < news.MaxFieldBytes-4 {
		t.Errorf("huge: truncated %v, content %d bytes, summary %d bytes", huge.Truncated, len(huge.Content), len(huge.Summary))
	}
	if arts["before"].Truncated {
		t.Error("a small article is marked truncated")
	}
	st, _ := LoadState(ctx, b.StateKV(), "big")
	if st.Status != "ok" || st.ItemsSeen != 3 {
		t.Errorf("state: %+v", st)
	}
}

// An item that the store still refuses after capping is set aside with a
// note; the other items of its feed are published.
func TestItemTheStoreRefusesIsSetAside(t *testing.T) {
	srv := jsonFeed(t, func() []jsonItem {
		return []jsonItem{
			{ID: "a", Title: "before", Text: "small"},
			{ID: "b", Title: "wide", Text: strings.Repeat("x", 64<<10)},
			{ID: "c", Title: "after", Text: "small"},
		}
	}, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wide", URL: srv.URL + "/feed.json", Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	ctx := context.Background()
	// A stream that takes messages of at most 16 KiB: the 64 KiB item is
	// under the article cap, but the store cannot take it.
	s, err := b.JS.Stream(ctx, b.Names.ArticleStream)
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	sc.MaxMsgSize = 16 << 10
	if _, err := b.JS.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, cfg, b)
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil {
		t.Fatalf("fetch: %v / %v", err, r.Err)
	}
	arts := articlesIn(t, b)
	if _, ok := arts["wide"]; ok || len(arts) != 2 || r.New != 2 || r.SetAside != 1 {
		t.Errorf("stored %d articles (wide among them: %v), result %+v", len(arts), ok, r)
	}
	if st, _ := LoadState(ctx, b.StateKV(), "wide"); st.Status != "ok" || st.ItemsSeen != 2 {
		t.Errorf("state: %+v", st)
	}
}

// A bus error during the publish used to leave the source's state unsaved
// ("pending", no error) and the source re-fetched every few seconds. The
// state now says what failed and waits a back-off; the store fault is
// reported and cleared by the next good write.
func TestBusErrorIsSavedInTheSourceState(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: 20 * time.Second}}
	})
	b := openBus(t, cfg)
	ctx := context.Background()
	s, err := b.JS.Stream(ctx, b.Names.ArticleStream)
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	if err := b.JS.DeleteStream(ctx, b.Names.ArticleStream); err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, cfg, b)
	_, err = p.FetchNow(ctx, cfg.Sources[0])
	if err == nil {
		t.Fatal("a fetch whose articles cannot be stored succeeded")
	}
	st, _ := LoadState(ctx, b.StateKV(), "wire")
	if st.Status != "error" || !strings.Contains(st.Error, "publish") || st.ConsecutiveFailures != 1 {
		t.Errorf("state after the bus error: %+v", st)
	}
	if min := st.LastFetch.Add(3 * cfg.Sources[0].Interval / 4); st.NextDue.Before(min) {
		t.Errorf("next due %s is sooner than the interval allows (%s)", st.NextDue, min)
	}
	if !hasFault(b, fetchWriteFault) {
		t.Error("store write failure not reported to bus.Health")
	}
	if _, err := b.JS.CreateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.New != 1 {
		t.Fatalf("fetch after the store came back: %v %+v", err, r)
	}
	if hasFault(b, fetchWriteFault) {
		t.Error("store write fault not cleared after a good write")
	}
}

func hasFault(b *bus.Bus, key string) bool {
	for _, f := range b.Health.Faults() {
		if f.Key == key {
			return true
		}
	}
	return false
}

// A publish that is never acknowledged (a store that cannot write) used to
// park the fetch worker forever. The wait is bounded and the state saved.
func TestUnansweredPublishEndsTheJob(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	ctx := context.Background()
	if err := b.JS.DeleteStream(ctx, b.Names.ArticleStream); err != nil {
		t.Fatal(err)
	}
	// Something answers the subject, so the publish is not refused at
	// once, but no ack ever comes.
	sub, err := b.NC.Subscribe(b.Names.Prefix+".articles.>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	p := newPipeline(t, cfg, b)
	p.fetch.ackWait = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := p.FetchNow(ctx, cfg.Sources[0])
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("fetch still waiting for the store after 20s")
	}
	if err == nil || !strings.Contains(err.Error(), "no ack") {
		t.Errorf("err = %v, want a bounded wait for acks", err)
	}
	if st, _ := LoadState(ctx, b.StateKV(), "wire"); st.Status != "error" || st.NextDue.IsZero() {
		t.Errorf("state: %+v", st)
	}
}

// A JSON Feed with very many items used to stall the async publisher and
// then record nothing as seen.
func TestHugeFeedIsPublishedInWindows(t *testing.T) {
	const n = 6_000
	items := make([]jsonItem, n)
	for i := range items {
		items[i] = jsonItem{ID: fmt.Sprintf("i%d", i), Title: fmt.Sprintf("item %d", i), Text: "x"}
	}
	srv := jsonFeed(t, func() []jsonItem { return items }, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "many", URL: srv.URL + "/feed.json", Interval: time.Hour}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx := context.Background()
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil || r.New != n {
		t.Fatalf("fetch: %v, result %+v", err, r)
	}
	if st, _ := LoadState(ctx, b.StateKV(), "many"); st.ItemsSeen != n {
		t.Errorf("items_seen %d, want %d", st.ItemsSeen, n)
	}
	if r, _ := p.FetchNow(ctx, cfg.Sources[0]); r.New != 0 {
		t.Errorf("refetch published %d again", r.New)
	}
}

// Two fetchers (two replicas) given jobs for the same source at once used
// to fetch it twice in parallel; a lease in the store lets one fetch.
func TestOneFetchPerSourceAtATime(t *testing.T) {
	feed := newHeldFeed(t)
	srv, release, most, hits := feed.Server, feed.release, &feed.most, &feed.hits
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "one", URL: srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	p1, p2 := newPipeline(t, cfg, b), newPipeline(t, cfg, b)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []*Pipeline{p1, p2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.FetchNow(ctx, cfg.Sources[0])
		}()
	}
	// Let both jobs start, then let the feed answer.
	waitFor(t, 10*time.Second, func() bool { return hits.Load() >= 1 })
	time.Sleep(300 * time.Millisecond)
	close(release)
	wg.Wait()
	if most.Load() != 1 || hits.Load() != 1 {
		t.Errorf("source fetched %d times, %d at once; want once", hits.Load(), most.Load())
	}
	busy := 0
	for _, err := range errs {
		if errors.Is(err, ErrSourceBusy) {
			busy++
		} else if err != nil {
			t.Errorf("fetch: %v", err)
		}
	}
	if busy != 1 {
		t.Errorf("%d fetches were told the source is busy, want 1", busy)
	}
	// The lease is given back: the next fetch goes ahead.
	if _, err := p2.FetchNow(ctx, cfg.Sources[0]); err != nil {
		t.Errorf("fetch after the lease was released: %v", err)
	}
}

var _ = jetstream.ErrKeyNotFound

// heldFeed serves a one-item feed that holds every request until release
// is closed (5 s at most), counting the requests and the most in flight
// at once.
type heldFeed struct {
	*httptest.Server
	release              chan struct{}
	inFlight, most, hits atomic.Int64
}

func newHeldFeed(t *testing.T) *heldFeed {
	f := &heldFeed{release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			m := f.most.Load()
			if n <= m || f.most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-f.release:
		case <-time.After(5 * time.Second):
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, `<rss version="2.0"><channel><title>t</title><item><guid>g</guid><title>x</title></item></channel></rss>`)
	}))
	t.Cleanup(f.Close)
	return f
}
