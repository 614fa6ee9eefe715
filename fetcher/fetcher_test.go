package fetcher

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/fetcher/fetchtest"
	"newswatch/news"
)

// rssFeed is the feed most tests serve.
const rssFeed = fetchtest.RSS

func testFetcher(t testing.TB, mod func(*config.Fetch)) *Fetcher {
	t.Helper()
	cfg := config.Fetch{Timeout: 5 * time.Second, HostInterval: -1, PerHost: 8}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg, nil)
}

func feedSource(url string) config.Source {
	return config.Source{ID: "src", Type: "feed", URL: url, Interval: time.Minute}
}

func TestFetchFeed(t *testing.T) {
	var gotUA, gotAE string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotAE = r.Header.Get("User-Agent"), r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, rssFeed)
	}))
	defer srv.Close()
	f := testFetcher(t, func(c *config.Fetch) { c.UserAgent = "newswatch-test/1" })
	res, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{})
	if err != nil {
		t.Fatal(err)
	}
	if gotUA != "newswatch-test/1" || !strings.Contains(gotAE, "gzip") {
		t.Errorf("User-Agent %q, Accept-Encoding %q", gotUA, gotAE)
	}
	if res.Status != 200 || len(res.Articles) != 2 || res.Bytes != int64(len(rssFeed)) {
		t.Fatalf("status %d, %d articles, %d bytes", res.Status, len(res.Articles), res.Bytes)
	}
	a := res.Articles[0]
	want := news.Article{
		V: 1, Source: "src", GUID: "g1", Title: "Fentanyl & precursors",
		URL:         "https://news.example/story/1?utm_source=rss",
		Summary:     "Seized 500 kg & more",
		SummaryHTML: "<p>Seized <b>500 kg</b> &amp; more</p>",
		Categories:  []string{"Drugs"},
		Published:   time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	}
	want.ID = news.ArticleID("g1", want.URL)
	want.Fetched = a.Fetched
	want.Updated = a.Updated
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", want) {
		t.Errorf("article\n got %+v\nwant %+v", a, want)
	}
	if a.Fetched.IsZero() {
		t.Error("Fetched not set")
	}
}

func TestConditionalGet(t *testing.T) {
	var full atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2026 15:04:05 GMT")
		if r.Header.Get("If-None-Match") == `"v1"` && r.Header.Get("If-Modified-Since") == "Mon, 02 Jan 2026 15:04:05 GMT" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		fmt.Fprint(w, rssFeed)
	}))
	defer srv.Close()
	f := testFetcher(t, nil)
	res, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{})
	if err != nil {
		t.Fatal(err)
	}
	want := Validator{ETag: `"v1"`, LastModified: "Mon, 02 Jan 2026 15:04:05 GMT"}
	if res.Validator != want || res.NotModified {
		t.Fatalf("first fetch: validator %+v, not modified %v", res.Validator, res.NotModified)
	}
	res, err = f.Fetch(context.Background(), feedSource(srv.URL), res.Validator)
	if err != nil {
		t.Fatal(err)
	}
	if !res.NotModified || res.Status != 304 || len(res.Articles) != 0 || res.Validator != want {
		t.Fatalf("second fetch: %+v", res)
	}
	if full.Load() != 1 {
		t.Errorf("server sent the full body %d times, want 1", full.Load())
	}
}

func TestGzipAndBodyCap(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	// A feed padded with a comment: small compressed, large expanded.
	big := []byte(strings.Replace(rssFeed, "<channel>", "<channel><!--"+strings.Repeat("x", 2<<20)+"-->", 1))
	tests := []struct {
		name    string
		body    []byte
		gzip    bool
		max     int64
		wantErr error
	}{
		{"gzip ok", []byte(rssFeed), true, 1 << 20, nil},
		{"plain over cap", big, false, 1 << 20, ErrTooLarge},
		{"gzip bomb over cap after decompression", big, true, 1 << 20, ErrTooLarge},
		{"gzip under cap", big, true, 4 << 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.gzip {
				body = gz(body)
				if tt.max < int64(len(tt.body)) && int64(len(body)) > tt.max {
					t.Fatalf("test setup: compressed body %d not under cap", len(body))
				}
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.gzip {
					w.Header().Set("Content-Encoding", "gzip")
				}
				w.Write(body)
			}))
			defer srv.Close()
			f := testFetcher(t, func(c *config.Fetch) { c.MaxBodyBytes = tt.max })
			res, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (len(res.Articles) != 2 || res.Bytes != int64(len(tt.body))) {
				t.Errorf("%d articles, %d bytes; want 2, %d", len(res.Articles), res.Bytes, len(tt.body))
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	now := time.Now().UTC()
	tests := []struct {
		name       string
		code       int
		retryAfter string
		want       time.Duration
	}{
		{"429 seconds", 429, "120", 120 * time.Second},
		{"503 http date", 503, now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{"429 absurd value is clamped", 429, "99999999", 24 * time.Hour},
		{"500 ignores retry-after", 500, "60", 0},
		{"404", 404, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
			}))
			defer srv.Close()
			f := testFetcher(t, nil)
			res, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{ETag: "x"})
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *StatusError", err)
			}
			if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "src") {
				t.Errorf("error %q does not name the source and URL", err)
			}
			got := se.RetryAfter
			if d := got - tt.want; d < -2*time.Second || d > 2*time.Second || se.Code != tt.code {
				t.Errorf("code %d retry-after %s, want %d %s", se.Code, got, tt.code, tt.want)
			}
			if res == nil || res.Status != tt.code || res.RetryAfter != se.RetryAfter || res.Validator.ETag != "x" {
				t.Errorf("result %+v", res)
			}
		})
	}
}

func TestBadBodies(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		want              error
		msg               string
	}{
		{"html page with feed link", "text/html", `<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body>hi</body></html>`, ErrNotFeed, "/feed.xml"},
		{"html page", "text/html", `<html><body><p>hello</p></body></html>`, ErrNotFeed, "HTML page"},
		{"garbage", "application/octet-stream", "\x89PNG\r\n\x1a\n\x00\x00garbage", ErrNotFeed, "not RSS"},
		{"empty", "text/xml", "", ErrNotFeed, "empty"},
		{"broken xml", "text/xml", `<rss><channel><item><title>x</ti`, nil, ""},
		{"deep nesting", "text/xml", `<rss><channel><item><x:a xmlns:x="u">` + strings.Repeat("<x:a>", 20000), ErrParse, "nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.Header().Set("ETag", `"new"`)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			prev := Validator{ETag: `"old"`}
			res, err := testFetcher(t, nil).Fetch(context.Background(), feedSource(srv.URL), prev)
			if tt.want == nil {
				return // must only not panic or hang
			}
			if res == nil || res.Validator != prev || res.Status != 200 {
				t.Errorf("result %+v: want status 200 and the previous validator", res)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"no headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}},
		{"trickling body", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<rss><channel>"))
			w.(http.Flusher).Flush()
			for {
				select {
				case <-release:
					return
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
					w.Write([]byte(" "))
					w.(http.Flusher).Flush()
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			f := testFetcher(t, func(c *config.Fetch) { c.Timeout = 300 * time.Millisecond })
			start := time.Now()
			_, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{})
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	noProxy(t)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/feed", http.StatusMovedPermanently)
		default:
			fmt.Fprint(w, rssFeed)
		}
	}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/feed", http.StatusFound)
	}))
	defer other.Close()
	f := testFetcher(t, nil)
	if _, err := f.Fetch(context.Background(), feedSource(srv.URL+"/moved"), Validator{}); err != nil {
		t.Errorf("same-host redirect: %v", err)
	}
	if _, err := f.Fetch(context.Background(), feedSource(srv.URL+"/loop"), Validator{}); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("redirect loop: err = %v", err)
	}
	// A configured URL may be private, a redirect from it to another
	// (private) host may not.
	if _, err := f.Fetch(context.Background(), feedSource(other.URL), Validator{}); !errors.Is(err, ErrPrivateNetwork) {
		t.Errorf("redirect to another private host: err = %v", err)
	}
	allowed := testFetcher(t, func(c *config.Fetch) { c.AllowPrivateNetworks = true })
	if _, err := allowed.Fetch(context.Background(), feedSource(other.URL), Validator{}); err != nil {
		t.Errorf("allowed redirect: %v", err)
	}
}

func TestPrivateNetworkGuard(t *testing.T) {
	noProxy(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><body><article><h1>T</h1><p>`+strings.Repeat("Article text about fentanyl seizures. ", 40)+`</p></article></body></html>`)
	}))
	defer srv.Close()
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		a := &news.Article{URL: u, Content: "teaser"}
		err := testFetcher(t, nil).FullText(context.Background(), a)
		if !errors.Is(err, ErrPrivateNetwork) || a.Content != "teaser" || !Permanent(err) {
			t.Errorf("%s: err = %v, content %q", u, err, a.Content)
		}
		// The operator must learn what lifts the guard.
		if err != nil && !strings.Contains(err.Error(), "fetch.allow_private_networks") {
			t.Errorf("%s: error %q does not name the setting", u, err)
		}
	}
	// A link the caller vouches for (the origin of a configured source)
	// dials its own private host.
	a := &news.Article{URL: srv.URL, Content: "teaser"}
	if err := testFetcher(t, nil).FullTextTrusted(context.Background(), a); err != nil || !strings.Contains(a.Content, "fentanyl seizures") {
		t.Errorf("trusted: err = %v, content %q", err, a.Content)
	}
	a = &news.Article{URL: srv.URL, Content: "teaser"}
	err := testFetcher(t, func(c *config.Fetch) { c.AllowPrivateNetworks = true }).FullText(context.Background(), a)
	if err != nil || !strings.Contains(a.Content, "fentanyl seizures") || !strings.Contains(a.ContentHTML, "<p>") {
		t.Errorf("allowed: err = %v, content %q", err, a.Content)
	}
}

func TestHostLimits(t *testing.T) {
	var inFlight, peak atomic.Int32
	var mu sync.Mutex
	var starts []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		fmt.Fprint(w, rssFeed)
	}))
	defer srv.Close()
	f := testFetcher(t, func(c *config.Fetch) { c.PerHost = 2; c.HostInterval = 20 * time.Millisecond })
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrency %d, want <= 2", p)
	}
	// Starts are reserved 20ms apart; network delay can shift a single
	// gap, but not the span of the whole run.
	if span := starts[len(starts)-1].Sub(starts[0]); span < 110*time.Millisecond {
		t.Errorf("8 requests started within %s, want >= 7 x 20ms", span)
	}
}
