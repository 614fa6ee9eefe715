package pipeline

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/harness"
	"newswatch/news"
)

// TestRefreshLooksUpOnlyWhatItHasNotSeen checks the memo of seen ids: a
// refresh of a feed whose items were seen at its last fetch does not ask
// the seen bucket about them again, a new item is still published once
// with its text, and a new process (an empty memo) asks again.
func TestRefreshLooksUpOnlyWhatItHasNotSeen(t *testing.T) {
	f, cfg, b, p, first := fetchedThenUnmarked(t)
	ctx := context.Background()
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
	m.remember("a", []uint64{3, 1, 2}, []config.Source{a, b}, 0)
	m.remember("b", []uint64{9}, []config.Source{a, b}, 0)
	if k := m.known("a", 0); !has(k, 1) || !has(k, 2) || !has(k, 3) || has(k, 9) {
		t.Fatalf("a: %v", k)
	}
	// "a" is removed from the config: the next remember drops it.
	m.remember("b", []uint64{8}, []config.Source{b}, 0)
	if k := m.known("a", 0); k != nil {
		t.Fatalf("a removed, still remembered: %v", k)
	}
	if k := m.known("b", 0); !has(k, 8) || has(k, 9) {
		t.Fatalf("b: %v, want only its last fetch", k)
	}
}

// TestSeenMemoForgetsAcrossAServerRestart checks that a NATS server that
// comes back without its last writes (a power cut within its fsync
// interval) does not leave the memo saying seen for ids the bucket lost
// with their articles: the next fetch publishes them again, as a new
// process would.
func TestSeenMemoForgetsAcrossAServerRestart(t *testing.T) {
	store := t.TempDir()
	ns := startNATS(t, store, -1)
	port := ns.Addr().(*net.TCPAddr).Port
	f := newFeed(t)
	f.add("Fentanyl seizure at the border", "Port traffic resumes")
	cfg := testConfig(t, func(c *config.Config) {
		c.NATS.URL = ns.ClientURL()
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)

	// The store as it is before the fetch: what the server comes back
	// with after losing the fetch's writes.
	before := t.TempDir()
	ns = restartNATS(t, ns, store, port, func() { copyDir(t, store, before) })
	waitReconnects(t, b, 1)

	ctx := context.Background()
	if r, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil || r.Err != nil || r.New != 2 {
		t.Fatalf("first fetch: %v, %+v; want 2 new", err, r)
	}
	restartNATS(t, ns, store, port, func() {
		if err := os.RemoveAll(store); err != nil {
			t.Fatal(err)
		}
		copyDir(t, before, store)
	})
	waitReconnects(t, b, 2)
	if n := len(articlesIn(t, b)); n != 0 {
		t.Fatalf("the store kept %d articles; the test needs them lost", n)
	}
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil {
		t.Fatalf("fetch after the restart: %v, %+v", err, r)
	}
	if got := articlesIn(t, b); len(got) != 2 || r.New != 2 {
		t.Fatalf("after the server lost them, %d articles published again, %d in the store; want 2 (the memo still said seen)", r.New, len(got))
	}
}

// startNATS starts a NATS server with JetStream on store, on port (-1:
// any free one), stopped at the end of the test.
func startNATS(t *testing.T, store string, port int) *server.Server {
	t.Helper()
	return harness.StartNATS(t, &server.Options{StoreDir: store, Port: port})
}

// restartNATS stops ns, runs between (if set) while it is down, and
// starts it again on the same store and port.
func restartNATS(t *testing.T, ns *server.Server, store string, port int, between func()) *server.Server {
	t.Helper()
	ns.Shutdown()
	ns.WaitForShutdown()
	if between != nil {
		between()
	}
	return startNATS(t, store, port)
}

// waitReconnects waits until b's connection has reconnected n times in all.
func waitReconnects(t *testing.T, b *bus.Bus, n uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for b.NC.Stats().Reconnects < n || !b.NC.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect %d to the restarted server", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSeenMemoForgetsWhenTheBucketLostData checks that data found lost
// in the seen bucket (bus/integrity.go) makes the memo forget: the ids
// are asked of the bucket again, and one it lost is published and marked
// seen again.
func TestSeenMemoForgetsWhenTheBucketLostData(t *testing.T) {
	f, cfg, b, p, first := fetchedThenUnmarked(t)
	ctx := context.Background()
	b.Health.DataLost("KV_"+b.Names.SeenBucket, 1, "lost for the test")
	f.add("Fentanyl precursor shipment stopped")
	if r, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil || r.Err != nil || r.New != 1 {
		t.Fatalf("second fetch: %v, %+v; want 1 new", err, r)
	}
	if _, err := b.SeenKV().Get(ctx, first); err != nil {
		t.Fatalf("the id lost from the bucket was not looked up again: %v", err)
	}
}

// fetchedThenUnmarked fetches a feed of two items once, then deletes the
// first one's id from the seen bucket (returned): a lookup would now find
// it unseen, publish it again (the stream drops the duplicate) and mark
// it seen again.
func fetchedThenUnmarked(t *testing.T) (*feed, *config.Config, *bus.Bus, *Pipeline, string) {
	t.Helper()
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
	first := news.ArticleID("g0", "https://news.example.org/0")
	if err := b.SeenKV().Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	return f, cfg, b, p, first
}
