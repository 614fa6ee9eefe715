package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
)

const storyPage = `<!doctype html><html><head><title>Story</title></head><body><article><h1>Story</h1>
<p>The full story of the fentanyl precursor shipment, as told on the article page, with enough
words in it for the reader view to take it for the main text of the page and keep it.</p>
<p>A second paragraph adds detail about the seizure, the port, the customs officers and the
chemicals that were found in the containers, so that the page reads like an article.</p></article></body></html>`

// storyFeed serves a JSON Feed whose items link to /story/<n> on the same
// origin, and those pages through page.
func storyFeed(t *testing.T, items int, page http.HandlerFunc) string {
	t.Helper()
	var base string
	srv := jsonFeed(t, func() []jsonItem {
		out := make([]jsonItem, items)
		for i := range out {
			out[i] = jsonItem{ID: fmt.Sprint(i), URL: fmt.Sprintf("%s/story/%d", base, i), Title: fmt.Sprintf("item %d", i), Summary: "teaser"}
		}
		return out
	}, page)
	base = srv.URL
	return srv.URL
}

// A page that fails for a while used to leave its item classified on the
// teaser for good (and a page on the source's own private host was
// refused). The item now waits, unseen, and gets its full text once the
// page answers.
func TestFullTextIsRetriedBeforeTheTeaser(t *testing.T) {
	var hits atomic.Int64
	base := storyFeed(t, 1, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, storyPage)
	})
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "ft", URL: base + "/feed.json", Interval: time.Minute, FullText: true}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx := context.Background()
	for i, want := range []int{0, 0, 1} {
		r, err := p.FetchNow(ctx, cfg.Sources[0])
		if err != nil || r.Err != nil || r.New != want {
			t.Fatalf("fetch %d: %v, result %+v; want %d new", i+1, err, r, want)
		}
	}
	a := articlesIn(t, b)["item 0"]
	if !strings.Contains(a.Content, "port, the customs officers") || a.FullTextError != "" {
		t.Errorf("article: content %q, full_text_error %q", a.Content, a.FullTextError)
	}
}

// A page that keeps failing is given up on after a bounded number of
// fetches: the item is published on its teaser, and says so.
func TestFullTextGivesUpAndSaysSo(t *testing.T) {
	base := storyFeed(t, 1, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "ft", URL: base + "/feed.json", Interval: time.Minute, FullText: true}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx := context.Background()
	published := 0
	for range fullTextAttempts {
		r, err := p.FetchNow(ctx, cfg.Sources[0])
		if err != nil {
			t.Fatal(err)
		}
		published += r.New
	}
	a, ok := articlesIn(t, b)["item 0"]
	if published != 1 || !ok {
		t.Fatalf("published %d after %d fetches", published, fullTextAttempts)
	}
	if a.Summary != "teaser" || !strings.Contains(a.FullTextError, "502") || !strings.Contains(a.FullTextError, "attempts") {
		t.Errorf("article: summary %q, full_text_error %q", a.Summary, a.FullTextError)
	}
}

// A link to a private address that is not a configured source's origin is
// refused at once, and the error names the setting that allows it.
func TestFullTextGuardNamesTheSetting(t *testing.T) {
	other := jsonFeed(t, func() []jsonItem { return nil }, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, storyPage) })
	srv := jsonFeed(t, func() []jsonItem {
		return []jsonItem{{ID: "x", URL: other.URL + "/story", Title: "elsewhere", Summary: "teaser"}}
	}, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "ft", URL: srv.URL + "/feed.json", Interval: time.Minute, FullText: true}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	r, err := p.FetchNow(context.Background(), cfg.Sources[0])
	if err != nil || r.New != 1 {
		t.Fatalf("fetch: %v %+v", err, r)
	}
	if a := articlesIn(t, b)["elsewhere"]; !strings.Contains(a.FullTextError, "fetch.allow_private_networks") {
		t.Errorf("full_text_error %q does not name the setting", a.FullTextError)
	}
}

// Pages that never answer used to be fetched one after another with the
// full timeout each, holding the fetch worker for items × timeout. The job
// now ends within its full-text budget and leaves the items for later.
func TestFullTextTarpitStaysWithinTheBudget(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	const items = 30
	base := storyFeed(t, items, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			fmt.Fprint(w, storyPage)
		case <-r.Context().Done():
		}
	})
	cfg := testConfig(t, func(c *config.Config) {
		c.Fetch.Timeout = 2 * time.Second
		c.Fetch.FullTextBudget = 500 * time.Millisecond
		c.Fetch.FullTextWorkers = 2
		c.Fetch.HostInterval = -1
		c.Fetch.AllowPrivateNetworks = true
		c.Sources = []config.Source{{ID: "tarpit", URL: base + "/feed.json", Interval: time.Minute, FullText: true}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	// Without a budget the job takes items × timeout (60s): far more
	// than this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil {
		t.Fatalf("fetch: %v / %v", err, r.Err)
	}
	if r.New != 0 {
		t.Errorf("published %d items whose pages never answered", r.New)
	}
	// Nothing is lost: once the pages answer, every item comes with its
	// full text.
	once.Do(func() { close(release) })
	published := 0
	for i := 0; i < 20 && published < items; i++ {
		r, err = p.FetchNow(ctx, cfg.Sources[0])
		if err != nil {
			t.Fatalf("fetch after the pages answer: %v", err)
		}
		published += r.New
	}
	if published != items {
		t.Fatalf("published %d of %d items", published, items)
	}
	for title, a := range articlesIn(t, b) {
		if a.FullTextError != "" || !strings.Contains(a.Content, "customs officers") {
			t.Errorf("%s: full_text_error %q, content %.40q", title, a.FullTextError, a.Content)
		}
	}
}

// Pages that never answer in time hold no item back for good: after
// fullTextAttempts jobs, every item goes out on its teaser, saying why.
func TestFullTextBudgetNeverHoldsAnItemForGood(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	const items = 30
	base := storyFeed(t, items, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	cfg := testConfig(t, func(c *config.Config) {
		c.Fetch.Timeout = 2 * time.Second
		c.Fetch.FullTextBudget = 300 * time.Millisecond
		c.Fetch.FullTextWorkers = 2
		c.Fetch.HostInterval = -1
		c.Fetch.AllowPrivateNetworks = true
		c.Sources = []config.Source{{ID: "tarpit", URL: base + "/feed.json", Interval: time.Minute, FullText: true}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	published := 0
	for range fullTextAttempts + 1 {
		r, err := p.FetchNow(ctx, cfg.Sources[0])
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		published += r.New
	}
	if published != items {
		t.Fatalf("published %d of %d items after %d fetches", published, items, fullTextAttempts+1)
	}
	for title, a := range articlesIn(t, b) {
		if a.FullTextError == "" {
			t.Errorf("%s: published on its teaser without full_text_error", title)
		}
	}
}
