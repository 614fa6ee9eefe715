package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

// sliceArchive is an archive held in memory, read the way the bus reader
// reads the stream: by sequence, after a given one. It counts reads.
type sliceArchive struct {
	mu    sync.Mutex
	arts  []news.Article
	at    []time.Time
	reads int // articles handed out
}

func (s *sliceArchive) add(a news.Article, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arts, s.at = append(s.arts, a), append(s.at, at)
}

func (s *sliceArchive) read(ctx context.Context, after uint64, f func(uint64, time.Time, *news.Article) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := int(after); i < len(s.arts); i++ {
		s.reads++
		if !f(uint64(i+1), s.at[i], &s.arts[i]) {
			return nil
		}
	}
	return nil
}

var previewTopics = []config.Topic{
	{ID: "fentanyl", Name: "Fentanyl", Query: "fentanyl*"},
	{ID: "china", Name: "China", Query: "china OR beijing"},
}

func previewServer(t *testing.T, arch *sliceArchive) string {
	t.Helper()
	pv := NewPreviewer(arch.read, func() []config.Topic { return previewTopics })
	s := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)),
		WithAuth(func() config.HTTPAuth { return config.HTTPAuth{BearerToken: "tok"} }), WithPreview(pv))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func postPreview(t *testing.T, base, auth string, req PreviewRequest) (int, *PreviewResult) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest("POST", base+"/api/preview", bytes.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res PreviewResult
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, &res
}

func testArchive() *sliceArchive {
	arch := &sliceArchive{}
	day := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	arch.add(news.Article{ID: "a1", Title: "Fentanyl seized at border", Content: "Agents seized fentanyl.", URL: "https://example.org/1"}, day)
	arch.add(news.Article{ID: "a2", Title: "Beijing talks", Content: "China and fentanyl precursors.", URL: "https://example.org/2"}, day.Add(24*time.Hour))
	arch.add(news.Article{ID: "a3", Title: "Weather", Content: "Sunny.", URL: "https://example.org/3"}, day.Add(24*time.Hour))
	return arch
}

func TestPreviewAPI(t *testing.T) {
	arch := testArchive()
	base := previewServer(t, arch)
	if code, _ := postPreview(t, base, "", PreviewRequest{Topic: "fentanyl", Query: "x"}); code != http.StatusUnauthorized {
		t.Errorf("without auth: %d, want 401", code)
	}
	tests := []struct {
		name        string
		req         PreviewRequest
		matched     int
		saved       int
		newN, lostN int
		errPos      int // -1: no error
		errMsg      string
	}{
		{"same as saved", PreviewRequest{Topic: "fentanyl", Query: "fentanyl*"}, 2, 2, 0, 0, -1, ""},
		{"narrower", PreviewRequest{Topic: "fentanyl", Query: "fentanyl* AND NOT china"}, 1, 2, 0, 1, -1, ""},
		{"wider", PreviewRequest{Topic: "china", Query: "china OR beijing OR sunny"}, 2, 1, 1, 0, -1, ""},
		{"topic reference", PreviewRequest{Topic: "both", Query: "topic:fentanyl AND topic:china"}, 1, -1, 0, 0, -1, ""},
		{"syntax error", PreviewRequest{Topic: "fentanyl", Query: "fentanyl AND (china"}, 0, -1, 0, 0, 19, "expected ')'"},
		{"unknown topic", PreviewRequest{Topic: "x", Query: "a OR topic:nope"}, 0, -1, 0, 0, 5, `unknown topic "nope"`},
		{"cycle", PreviewRequest{Topic: "china", Query: "topic:china"}, 0, -1, 0, 0, 0, "cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, res := postPreview(t, base, "Bearer tok", tt.req)
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if tt.errPos >= 0 {
				if len(res.Errors) == 0 || res.Errors[0].Pos != tt.errPos || !strings.Contains(res.Errors[0].Msg, tt.errMsg) {
					t.Errorf("errors %+v, want %q at %d", res.Errors, tt.errMsg, tt.errPos)
				}
				return
			}
			if len(res.Errors) > 0 || res.Matched != tt.matched || res.SavedMatched != tt.saved || res.NewCount != tt.newN || res.LostCount != tt.lostN {
				t.Errorf("got matched %d saved %d new %d lost %d errors %v; want %d %d %d %d", res.Matched, res.SavedMatched, res.NewCount, res.LostCount, res.Errors, tt.matched, tt.saved, tt.newN, tt.lostN)
			}
			if res.Archived != 3 || len(res.Days) != 2 || res.Days[0].Articles != 1 || res.Days[1].Articles != 2 {
				t.Errorf("archive %d, days %+v", res.Archived, res.Days)
			}
			alerts := 0
			for _, d := range res.Days {
				alerts += d.Alerts
			}
			if alerts != tt.matched || len(res.Matches) != tt.matched {
				t.Errorf("alerts per day sum to %d and %d listed, want %d", alerts, len(res.Matches), tt.matched)
			}
		})
	}
	// Highlights: the hit is marked in the snippets of a match.
	_, res := postPreview(t, base, "Bearer tok", PreviewRequest{Topic: "fentanyl", Query: "fentanyl*"})
	if len(res.Matches) == 0 || res.Matches[0].ID != "a2" || !strings.Contains(fmt.Sprint(res.Matches[0].Matches), "«fentanyl»") {
		t.Errorf("matches %+v, want a2 first with «fentanyl» marked", res.Matches)
	}
}

// TestPreviewCacheIncremental checks that the cache reads only what was
// archived since its last refresh.
func TestPreviewCacheIncremental(t *testing.T) {
	arch := testArchive()
	pv := NewPreviewer(arch.read, func() []config.Topic { return previewTopics })
	ctx := context.Background()
	if _, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: "fentanyl*"}); err != nil {
		t.Fatal(err)
	}
	arch.add(news.Article{ID: "a4", Title: "More fentanyl", URL: "https://example.org/4"}, time.Now())
	pv.mu.Lock()
	pv.loadedAt = time.Time{} // as if previewRefresh had passed
	pv.mu.Unlock()
	res, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: "fentanyl*"})
	if err != nil {
		t.Fatal(err)
	}
	if arch.reads != 4 || res.Archived != 4 || res.Matched != 3 {
		t.Errorf("reads %d archived %d matched %d, want 4 4 3", arch.reads, res.Archived, res.Matched)
	}
}

// benchArchive builds n archived articles from the labelled fixtures (or
// the seed article), spread over 30 days.
func benchArchive(b *testing.B, n int) *sliceArchive {
	var texts []struct{ Title, Text string }
	if f, err := os.Open(filepath.Join("..", "..", "shared", "fixtures", "labeled", "articles.jsonl")); err == nil {
		dec := json.NewDecoder(f)
		for {
			var x struct{ Title, Text string }
			if dec.Decode(&x) != nil {
				break
			}
			texts = append(texts, x)
		}
		f.Close()
	}
	if len(texts) == 0 {
		seed, err := os.ReadFile(filepath.Join("..", "classifier", "testdata", "seed-article.txt"))
		if err != nil {
			b.Fatal(err)
		}
		texts = append(texts, struct{ Title, Text string }{"Seed", string(seed)})
	}
	arch := &sliceArchive{}
	start := time.Now().Add(-30 * 24 * time.Hour)
	for i := range n {
		x := texts[i%len(texts)]
		arch.add(news.Article{ID: fmt.Sprint(i), Title: x.Title, Content: x.Text, URL: fmt.Sprintf("https://example.org/%d", i)}, start.Add(time.Duration(i)*30*24*time.Hour/time.Duration(n)))
	}
	return arch
}

// BenchmarkPreview is one keystroke: compile the query and run it (and
// the saved one) over 10,000 cached archived articles.
//
//	go test ./web/ -run '^$' -bench Preview -benchtime 10x
func BenchmarkPreview(b *testing.B) {
	arch := benchArchive(b, PreviewMaxArticles)
	topics, err := config.Load(filepath.Join("..", "config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	pv := NewPreviewer(arch.read, func() []config.Topic { return topics.Topics })
	ctx := context.Background()
	if _, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: "x"}); err != nil { // fill the cache
		b.Fatal(err)
	}
	bytes := 0
	for _, a := range arch.arts {
		bytes += len(a.Title) + len(a.Content)
	}
	b.SetBytes(int64(bytes))
	q := topics.Topics[0].Query + " OR precursor*"
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu := threadCPU()
	for b.Loop() {
		res, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: q})
		if err != nil || len(res.Errors) > 0 {
			b.Fatal(err, res.Errors)
		}
	}
	b.ReportMetric((threadCPU()-cpu).Seconds()*1e3/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(len(arch.arts)), "articles")
}

// TestPreviewSavedFollowsConfig checks that the saved query's cached
// verdicts are dropped when the config in force changes.
func TestPreviewSavedFollowsConfig(t *testing.T) {
	arch := testArchive()
	var mu sync.Mutex
	topics := previewTopics
	pv := NewPreviewer(arch.read, func() []config.Topic {
		mu.Lock()
		defer mu.Unlock()
		return topics
	})
	ctx := context.Background()
	for _, tt := range []struct {
		saved     string
		wantSaved int
	}{
		{"fentanyl*", 2},
		{"fentanyl* AND title:border", 1},
		{"sunny OR fentanyl*", 3},
	} {
		mu.Lock()
		topics = []config.Topic{{ID: "fentanyl", Query: tt.saved}, previewTopics[1]}
		mu.Unlock()
		res, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: "fentanyl*"})
		if err != nil {
			t.Fatal(err)
		}
		if res.SavedMatched != tt.wantSaved || res.Matched != 2 {
			t.Errorf("saved %q: saved_matched %d matched %d, want %d and 2", tt.saved, res.SavedMatched, res.Matched, tt.wantSaved)
		}
	}
}

// TestPreviewCancelled checks that a request whose context is done (the
// page aborted it for a newer keystroke) stops with the context's error.
func TestPreviewCancelled(t *testing.T) {
	arch := &sliceArchive{}
	for i := range 1000 {
		arch.add(news.Article{ID: fmt.Sprint(i), Title: "Fentanyl", URL: fmt.Sprintf("https://example.org/%d", i)}, time.Now())
	}
	pv := NewPreviewer(arch.read, func() []config.Topic { return previewTopics })
	if _, err := pv.Preview(context.Background(), PreviewRequest{Topic: "fentanyl", Query: "x"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: "fentanyl*"}); err == nil {
		t.Errorf("cancelled preview answered %d matches, want an error", res.Matched)
	}
}

// typing is what a person typing "OR precursor*" after the saved
// fentanyl query sends, one debounced request per few letters.
func typing(saved string) []string {
	var qs []string
	for _, w := range []string{"p", "pre", "precu", "precurs", "precursor"} {
		qs = append(qs, saved+" OR "+w+"*")
	}
	return qs
}

// BenchmarkClassifyDuringPreview measures the classify stage (the default
// topics over 500 archived articles, one goroutine, as one classifier
// worker) alone, while a person types in the preview (a request every
// 250 ms, the page's debounce), and while previews run back to back
// without pause (the most a single person can cause: one preview runs
// at a time). The MB/s of the three, in the same run, give the cost:
// cpu-MB/s is the classify goroutine's own CPU time (what the preview
// costs it through shared caches and the garbage collector), MB/s the
// wall clock (which also counts waiting for a core).
//
//	go test ./web/ -run '^$' -bench ClassifyDuringPreview -benchtime 3s
func BenchmarkClassifyDuringPreview(b *testing.B) {
	arch := benchArchive(b, PreviewMaxArticles)
	cfg, err := config.Load(filepath.Join("..", "config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		b.Fatal(err)
	}
	pv := NewPreviewer(arch.read, func() []config.Topic { return cfg.Topics })
	ctx := context.Background()
	if _, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: "x"}); err != nil { // fill the cache
		b.Fatal(err)
	}
	arts := arch.arts[:500]
	bytes := 0
	for _, a := range arts {
		bytes += len(a.Title) + len(a.Content)
	}
	qs := typing(cfg.Topics[0].Query)
	for _, mode := range []struct {
		name  string
		pause time.Duration // between previews; <0: none run
	}{{"alone", -1}, {"typing-250ms", 250 * time.Millisecond}, {"back-to-back", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			stop, done := make(chan struct{}), make(chan struct{})
			previews := 0
			go func() {
				defer close(done)
				for i := 0; mode.pause >= 0; i++ {
					select {
					case <-stop:
						return
					case <-time.After(mode.pause):
					}
					if _, err := pv.Preview(ctx, PreviewRequest{Topic: "fentanyl", Query: qs[i%len(qs)]}); err != nil {
						b.Error(err)
						return
					}
					previews++
				}
			}()
			b.SetBytes(int64(bytes))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start, cpu := time.Now(), threadCPU()
			for b.Loop() {
				for i := range arts {
					c.Classify(&arts[i])
				}
			}
			took, used := time.Since(start), threadCPU()-cpu
			close(stop)
			<-done
			b.ReportMetric(float64(bytes)*float64(b.N)/used.Seconds()/1e6, "cpu-MB/s")
			b.ReportMetric(float64(previews)/took.Seconds(), "previews/s")
		})
	}
}

// threadCPU is the CPU time of the calling thread, which, unlike wall
// time, a busy shared machine does not inflate (Linux).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPreviewBoundCountsVocabulary fills the archive with articles of
// rare words, whose vocabulary outweighs their text: the cache, words
// included, stays within its byte bound, and still holds the newest
// articles.
func TestPreviewBoundCountsVocabulary(t *testing.T) {
	arch := &sliceArchive{}
	at := time.Now().Add(-time.Hour)
	const articles, words = 300, 1500
	for a := range articles {
		var b strings.Builder
		for w := range words {
			fmt.Fprintf(&b, "r%03dq%04d ", a, w)
		}
		arch.add(news.Article{ID: fmt.Sprint(a), Title: fmt.Sprintf("rare%d", a), Content: b.String(), URL: fmt.Sprintf("https://example.org/%d", a)}, at.Add(time.Duration(a)*time.Second))
	}
	pv := NewPreviewer(arch.read, func() []config.Topic { return previewTopics })
	pv.maxBytes = 4 << 20
	res, err := pv.Preview(context.Background(), PreviewRequest{Query: fmt.Sprintf("rare%d", articles-1)})
	if err != nil {
		t.Fatal(err)
	}
	pv.mu.Lock()
	held, vocab, cached := pv.held(), pv.vocab.Bytes(), len(pv.items)
	pv.mu.Unlock()
	t.Logf("%d articles cached, %d bytes held, of which vocabulary %d", cached, held, vocab)
	if held > pv.maxBytes {
		t.Errorf("cache holds %d bytes (vocabulary %d), over its bound of %d", held, vocab, pv.maxBytes)
	}
	if res.Matched != 1 {
		t.Errorf("the newest article matched %d times, want 1: it should be cached", res.Matched)
	}
	if cached == 0 || cached == articles {
		t.Errorf("%d of %d articles cached: the bound should keep some and evict some", cached, articles)
	}
}

// TestPreviewFitKeepsMostOfTheCache adds one article of rare words per
// refresh to a cache at its byte bound: each refresh that overflows
// drops about the excess (and a tenth of room), not a quarter of the
// cache, so the preview keeps most of its archive from one refresh to
// the next.
func TestPreviewFitKeepsMostOfTheCache(t *testing.T) {
	arch := &sliceArchive{}
	at := time.Now().Add(-time.Hour)
	add := func(a int) {
		var b strings.Builder
		for w := range 1500 {
			fmt.Fprintf(&b, "r%03dq%04d ", a, w)
		}
		arch.add(news.Article{ID: fmt.Sprint(a), Title: fmt.Sprintf("rare%d", a), Content: b.String(), URL: fmt.Sprintf("https://example.org/%d", a)}, at.Add(time.Duration(a)*time.Second))
	}
	n := 0
	for ; n < 100; n++ {
		add(n)
	}
	pv := NewPreviewer(arch.read, func() []config.Topic { return previewTopics })
	pv.maxBytes = 8 << 20
	ctx := context.Background()
	if _, err := pv.Preview(ctx, PreviewRequest{Query: "x"}); err != nil {
		t.Fatal(err)
	}
	least, most := 1<<30, 0
	for range 40 {
		add(n)
		n++
		pv.mu.Lock()
		pv.loadedAt = time.Time{} // as if previewRefresh had passed
		pv.mu.Unlock()
		if _, err := pv.Preview(ctx, PreviewRequest{Query: "x"}); err != nil {
			t.Fatal(err)
		}
		pv.mu.Lock()
		cached, held := len(pv.items), pv.held()
		pv.mu.Unlock()
		if held > pv.maxBytes {
			t.Fatalf("cache holds %d bytes, over its bound of %d", held, pv.maxBytes)
		}
		least, most = min(least, cached), max(most, cached)
	}
	t.Logf("cached %d to %d articles", least, most)
	if least*100 < most*85 {
		t.Errorf("cache swung from %d to %d articles: a refresh dropped more than the excess", most, least)
	}
}
