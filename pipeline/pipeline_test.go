package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/metrics"
	"newswatch/news"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(t *testing.T, mutate func(*config.Config)) *config.Config {
	t.Helper()
	cfg := &config.Config{
		DataDir: t.TempDir(),
		Topics:  []config.Topic{{ID: "fentanyl", Query: "fentanyl"}},
	}
	if mutate != nil {
		mutate(cfg)
	}
	cfg.ApplyDefaults()
	return cfg
}

func openBus(t *testing.T, cfg *config.Config) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// feed serves an RSS feed whose items can be added while it runs, and
// can be switched to fail.
type feed struct {
	mu     sync.Mutex
	items  []string
	status int
	hits   atomic.Int64
	srv    *httptest.Server
}

func newFeed(t *testing.T) *feed {
	f := &feed{status: http.StatusOK}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.status != http.StatusOK {
			w.WriteHeader(f.status)
			return
		}
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`)
		for i, title := range f.items {
			fmt.Fprintf(&b, `<item><guid>g%d</guid><title>%s</title><link>https://news.example.org/%d</link></item>`, i, title, i)
		}
		b.WriteString(`</channel></rss>`)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, b.String())
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *feed) add(titles ...string) {
	f.mu.Lock()
	f.items = append(f.items, titles...)
	f.mu.Unlock()
}

func (f *feed) setStatus(code int) {
	f.mu.Lock()
	f.status = code
	f.mu.Unlock()
}

func TestSchedulersOfTwoReplicasPublishOneJob(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		for i := range 20 {
			c.Sources = append(c.Sources, config.Source{ID: fmt.Sprintf("s%02d", i), URL: "https://e.org/", Interval: time.Hour})
		}
	})
	b := openBus(t, cfg)
	// A source whose slot starts within the second below would rightly
	// get a second job; pick a now where none does.
	now := time.Now()
	for crossed := true; crossed; {
		crossed = false
		for _, src := range cfg.Sources {
			if !slotFloor(src, now).Equal(slotFloor(src, now.Add(time.Second))) {
				now, crossed = now.Add(2*time.Second), true
			}
		}
	}
	s1 := newScheduler(b, discard(), cfg.Fetch.Timeout)
	s2 := newScheduler(b, discard(), cfg.Fetch.Timeout)
	ctx := context.Background()
	s1.tick(ctx, cfg.Sources, now)
	s2.tick(ctx, cfg.Sources, now)
	s1.tick(ctx, cfg.Sources, now.Add(time.Second)) // same slot: nothing new
	st, err := b.JS.Stream(ctx, b.Names.FetchStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.State.Msgs != 20 {
		t.Errorf("fetch stream holds %d jobs, want 20 (one per source)", info.State.Msgs)
	}
}

func TestSlotsSpreadSources(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	buckets := map[int64]int{}
	for i := range 1000 {
		src := config.Source{ID: fmt.Sprintf("source-%d", i), Interval: 10 * time.Minute}
		due := slotFloor(src, now)
		if due.After(now) || now.Sub(due) >= src.Interval {
			t.Fatalf("slotFloor(%s) = %s, not within the last interval", src.ID, due)
		}
		if next := nextSlot(src, now); !next.Equal(due.Add(src.Interval)) {
			t.Fatalf("nextSlot = %s", next)
		}
		buckets[due.Unix()/60]++
	}
	// 1,000 sources over 10 minutes: no minute may hold a big share.
	for m, n := range buckets {
		if n > 200 {
			t.Errorf("minute %d holds %d of 1000 sources", m, n)
		}
	}
}

func TestCronSchedule(t *testing.T) {
	src := config.Source{ID: "morning", Schedule: "0 7,19 * * *", Interval: time.Hour}
	loc := time.Local
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, loc)
	floor := slotFloor(src, now).In(loc)
	next := nextSlot(src, now).In(loc)
	off := offset(src.ID, cronJitter)
	if want := time.Date(2026, 3, 10, 7, 0, 0, 0, loc).Add(off); !floor.Equal(want) {
		t.Errorf("slotFloor = %s, want %s", floor, want)
	}
	if want := time.Date(2026, 3, 10, 19, 0, 0, 0, loc).Add(off); !next.Equal(want) {
		t.Errorf("nextSlot = %s, want %s", next, want)
	}
	if off <= 0 || off >= cronJitter {
		t.Errorf("jitter %s out of range", off)
	}
	// Just after a firing but before its jitter, the previous firing holds.
	just := time.Date(2026, 3, 10, 19, 0, 0, 0, loc).Add(off / 2)
	if got := slotFloor(src, just).In(loc); !got.Equal(time.Date(2026, 3, 10, 7, 0, 0, 0, loc).Add(off)) {
		t.Errorf("slotFloor just after 19:00 = %s", got)
	}
}

func TestLostJobGetsANewDueTime(t *testing.T) {
	s := newScheduler(nil, discard(), 30*time.Second)
	now := time.Date(2026, 3, 10, 12, 30, 20, 0, time.UTC)
	for _, src := range []config.Source{
		{ID: "every", Interval: 10 * time.Minute},
		{ID: "cron", Interval: 10 * time.Minute, Schedule: "0 7 * * *"},
	} {
		stored := slotFloor(src, now.Add(-3*time.Hour)) // its job was lost long ago
		got := s.due(src, stored, now)
		if !got.After(stored) || got.After(now) {
			t.Errorf("%s: due %s, want a new time after the lost %s and not after now", src.ID, got, stored)
		}
		if fresh := s.due(src, nextSlot(src, now), now); !fresh.Equal(nextSlot(src, now)) {
			t.Errorf("%s: a current due time was replaced: %s", src.ID, fresh)
		}
	}
}

func TestFailingSourceBacksOffAndRecovers(t *testing.T) {
	f := newFeed(t)
	f.add("Fentanyl seizure at the border")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	p, err := New(cfg, b, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f.setStatus(http.StatusInternalServerError)
	for want := 1; want <= 3; want++ {
		r, err := p.FetchNow(ctx, cfg.Sources[0])
		if err != nil || r.Err == nil {
			t.Fatalf("fetch %d: err %v, result %+v", want, err, r)
		}
		st, _ := LoadState(ctx, b.StateKV(), "wire")
		if st.Status != "error" || st.ConsecutiveFailures != want || st.HTTPStatus != 500 || !strings.Contains(st.Error, "500") {
			t.Errorf("after failure %d: state %+v", want, st)
		}
		if !st.NextDue.After(st.LastFetch) {
			t.Errorf("next due %s is not after the failed fetch %s", st.NextDue, st.LastFetch)
		}
	}
	f.setStatus(http.StatusOK)
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || r.Err != nil || r.New != 1 {
		t.Fatalf("recovery fetch: %v %+v", err, r)
	}
	st, _ := LoadState(ctx, b.StateKV(), "wire")
	if st.Status != "ok" || st.ConsecutiveFailures != 0 || st.Error != "" || st.ItemsSeen != 1 || st.LastSuccess.IsZero() {
		t.Errorf("after recovery: %+v", st)
	}
	// The same item is not published twice.
	if r, _ := p.FetchNow(ctx, cfg.Sources[0]); r.New != 0 {
		t.Errorf("refetch published %d articles again", r.New)
	}
}

// TestRunDeliversItemsAsTheyAppear drives the daemon path: scheduler, fetch
// jobs, classifier and a webhook subscriber, with items added over time.
func TestRunDeliversItemsAsTheyAppear(t *testing.T) {
	f := newFeed(t)
	hook := newTitleHook(t)
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Second}}
		c.Subscribers = []config.Subscriber{{ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: hook.URL, Secret: "s3cret"}}}
	})
	b := openBus(t, cfg)
	m := metrics.New()
	p, err := New(cfg, b, discard(), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, AllRoles) }()

	f.add("Fentanyl ring broken up", "Weather: sunny")
	waitFor(t, 15*time.Second, func() bool { return len(hook.titles()) >= 1 })
	f.add("Second fentanyl story", "Sports results")
	waitFor(t, 15*time.Second, func() bool { return len(hook.titles()) >= 2 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := hook.titles(); fmt.Sprint(got) != "[Fentanyl ring broken up Second fentanyl story]" {
		t.Errorf("delivered %q", got)
	}
	if f.hits.Load() < 2 {
		t.Errorf("feed fetched %d times", f.hits.Load())
	}

	// The work shows in the metrics.
	for _, want := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"newswatch_fetches_total", map[string]string{"source": "wire", "outcome": "ok"}, 2},
		{"newswatch_articles_published_total", map[string]string{"source": "wire"}, 4},
		{"newswatch_alerts_total", map[string]string{"topic": "fentanyl"}, 2},
		{"newswatch_deliveries_total", map[string]string{"subscriber": "desk", "outcome": "ok"}, 2},
		{"newswatch_source_last_success_timestamp_seconds", map[string]string{"source": "wire"}, 1},
	} {
		if got := metricValue(t, m, want.name, want.labels); got < want.min {
			t.Errorf("%s%v = %v, want at least %v", want.name, want.labels, got, want.min)
		}
	}
}

// metricValue is the value of the series of name with labels (0 if none).
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	series:
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue()
			case s.Gauge != nil:
				return s.Gauge.GetValue()
			}
		}
	}
	return 0
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestParseRoles(t *testing.T) {
	r, err := ParseRoles("fetcher, notifier")
	if err != nil || r != (Roles{Fetcher: true, Notifier: true}) {
		t.Errorf("ParseRoles = %+v, %v", r, err)
	}
	if _, err := ParseRoles("fetcher,mailer"); err == nil {
		t.Error("unknown role accepted")
	}
	if r, _ := ParseRoles("all"); r != AllRoles {
		t.Errorf("all = %+v", r)
	}
}

// titleHook is a webhook subscriber's endpoint that records the titles
// of the alerts it receives.
type titleHook struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newTitleHook(t *testing.T) *titleHook {
	h := &titleHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a news.Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		h.mu.Lock()
		h.got = append(h.got, a.Article.Title)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// titles is what arrived so far, in order.
func (h *titleHook) titles() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}
