package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

// TestRefreshLooksUpOnlyWhatItHasNotSeen checks the memo of seen ids: a
// refresh of a feed whose items were seen at its last fetch does not ask
// the seen bucket about them again, a new item is still published once
// with its text, and a new process (an empty memo) asks again.
func TestRefreshLooksUpOnlyWhatItHasNotSeen(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure at the border", "Port traffic resumes")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx := context.Background()
	if r, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil || r.Err != nil || r.New != 2 {
		t.Fatalf("first fetch: %v, %+v; want 2 new", err, r)
	}

	// Unmark the first item: a lookup would now find it unseen, publish
	// it again (the stream drops the duplicate) and mark it seen again.
	first := news.ArticleID("g0", "https://news.example.org/0")
	if err := b.SeenKV().Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	f.add("Fentanyl precursor shipment stopped")
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil || r.New != 1 || r.Items != 3 {
		t.Fatalf("second fetch: %v, %+v; want 3 items, 1 new", err, r)
	}
	if _, err := b.SeenKV().Get(ctx, first); !errors.Is(err, bus.ErrKeyNotFound) {
		t.Fatalf("the item seen at the last fetch was looked up again (seen key: %v)", err)
	}
	if a := articlesIn(t, b)["Fentanyl precursor shipment stopped"]; a.ID == "" || a.Title == "" {
		t.Fatalf("new item not stored: %+v", a)
	}

	// A new process knows nothing yet: it asks the bucket, which marks
	// the first item seen again.
	p2 := newPipeline(t, cfg, b)
	if r, err := p2.FetchNow(ctx, cfg.Sources[0]); err != nil || r.Err != nil || r.New != 0 {
		t.Fatalf("fetch by a new process: %v, %+v; want nothing new", err, r)
	}
	if _, err := b.SeenKV().Get(ctx, first); err != nil {
		t.Fatalf("a new process did not look the item up: %v", err)
	}
}

// TestFeedTextIsMadeForNewItems checks that an article published from a
// feed carries the plain text of its HTML (which the fetch stage makes
// only for the items not seen before).
func TestFeedTextIsMadeForNewItems(t *testing.T) {
	base := storyFeed(t, 1, nil)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "story", URL: base + "/feed.json", Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	if r, err := p.FetchNow(context.Background(), cfg.Sources[0]); err != nil || r.Err != nil || r.New != 1 {
		t.Fatalf("fetch: %v, %+v", err, r)
	}
	for _, a := range articlesIn(t, b) {
		if a.SummaryHTML+a.ContentHTML == "" || a.Summary+a.Content == "" {
			t.Fatalf("article without its text: summary %q (html %q), content %q (html %q)", a.Summary, a.SummaryHTML, a.Content, a.ContentHTML)
		}
	}
}

func TestSeenMemoForgetsRemovedSources(t *testing.T) {
	m := newSeenMemo()
	a, b := config.Source{ID: "a"}, config.Source{ID: "b"}
	m.remember("a", []uint64{3, 1, 2}, []config.Source{a, b})
	m.remember("b", []uint64{9}, []config.Source{a, b})
	if k := m.known("a"); !has(k, 1) || !has(k, 2) || !has(k, 3) || has(k, 9) {
		t.Fatalf("a: %v", k)
	}
	// "a" is removed from the config: the next remember drops it.
	m.remember("b", []uint64{8}, []config.Source{b})
	if k := m.known("a"); k != nil {
		t.Fatalf("a removed, still remembered: %v", k)
	}
	if k := m.known("b"); !has(k, 8) || has(k, 9) {
		t.Fatalf("b: %v, want only its last fetch", k)
	}
}
