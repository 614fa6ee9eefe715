package page_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/fetcher/charset"
	"newswatch/fetcher/feed"
	"newswatch/fetcher/page"
	"newswatch/news"
)

const indexPage = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>News</title></head><body>
<nav><a href="/about">About</a></nav>
<ul class="news">
  <li class="story"><h2><a href="/2026/01/fentanyl-seizure?utm_source=home">Record fentanyl seizure</a></h2>
      <p class="dek">Agents found <b>precursor</b> chemicals &amp; pills.</p>
      <time datetime="2026-01-05T10:00:00Z">5 Jan</time></li>
  <li class="story"><h2><a href="https://other.example/trade">US–China trade talks resume</a></h2>
      <p class="dek">Negotiators meet in Geneva.</p><time>January 6, 2026</time></li>
  <li class="story"><a href="story3.html"><img src="x.jpg"></a><h2><a href="story3.html">Third</a></h2></li>
  <li class="story"><h2>No link at all</h2></li>
  <li class="story"><h2><a href="/2026/01/fentanyl-seizure">Duplicate link</a></h2></li>
</ul></body></html>`

func TestPageSource(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, indexPage)
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		sel    config.PageSelectors
		titles []string
		urls   []string
	}{
		{
			name:   "all selectors",
			sel:    config.PageSelectors{Items: "li.story", Title: "h2", Link: "h2 a", Summary: "p.dek", Published: "time"},
			titles: []string{"Record fentanyl seizure", "US–China trade talks resume", "Third", "No link at all"},
			urls: []string{srv.URL + "/2026/01/fentanyl-seizure?utm_source=home", "https://other.example/trade",
				srv.URL + "/news/story3.html", ""},
		},
		{
			name:   "items only: first link and its text",
			sel:    config.PageSelectors{Items: "li.story"},
			titles: []string{"Record fentanyl seizure", "US–China trade talks resume", "Third", "No link at all"},
			urls:   []string{srv.URL + "/2026/01/fentanyl-seizure?utm_source=home", "https://other.example/trade", srv.URL + "/news/story3.html", ""},
		},
		{
			name:   "items are the links",
			sel:    config.PageSelectors{Items: "li.story h2 a"},
			titles: []string{"Record fentanyl seizure", "US–China trade talks resume", "Third"},
			urls:   []string{srv.URL + "/2026/01/fentanyl-seizure?utm_source=home", "https://other.example/trade", srv.URL + "/news/story3.html"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{ID: "idx", Type: "page", URL: srv.URL + "/news/", Selectors: &tt.sel}
			res, err := testFetcher().Fetch(context.Background(), src, fetcher.Validator{})
			if err != nil {
				t.Fatal(err)
			}
			var titles, urls []string
			for _, a := range res.Articles {
				titles = append(titles, a.Title)
				urls = append(urls, a.URL)
				if a.ID == "" || a.Source != "idx" || a.Fetched.IsZero() {
					t.Errorf("incomplete article %+v", a)
				}
			}
			if strings.Join(titles, "|") != strings.Join(tt.titles, "|") {
				t.Errorf("titles %q, want %q", titles, tt.titles)
			}
			if strings.Join(urls, "|") != strings.Join(tt.urls, "|") {
				t.Errorf("urls %q, want %q", urls, tt.urls)
			}
			if tt.sel.Summary != "" {
				a := res.Articles[0]
				if a.Summary != "Agents found precursor chemicals & pills." || !strings.Contains(a.SummaryHTML, "<b>precursor</b>") {
					t.Errorf("summary %q html %q", a.Summary, a.SummaryHTML)
				}
				if a.ID != news.ArticleID("", srv.URL+"/2026/01/fentanyl-seizure") {
					t.Error("id not from the normalised link")
				}
			}
			if tt.sel.Published != "" {
				want := []time.Time{time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)}
				for i, w := range want {
					if !res.Articles[i].Published.Equal(w) {
						t.Errorf("item %d published %s, want %s", i, res.Articles[i].Published, w)
					}
				}
			}
		})
	}
}

func TestPageBadSelector(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, indexPage)
	}))
	defer srv.Close()
	src := config.Source{ID: "idx", Type: "page", URL: srv.URL, Selectors: &config.PageSelectors{Items: "li[[["}}
	_, err := testFetcher().Fetch(context.Background(), src, fetcher.Validator{})
	if err == nil || !strings.Contains(err.Error(), "selector") {
		t.Fatalf("err = %v, want a bad selector error", err)
	}
}

// testFetcher is a fetcher without host limits, for loopback servers.
func testFetcher() *fetcher.Fetcher {
	return fetcher.New(config.Fetch{Timeout: 5 * time.Second, HostInterval: -1, PerHost: 8}, nil)
}

func FuzzParsePage(f *testing.F) {
	f.Add([]byte(indexPage), "text/html")
	f.Add([]byte(`<li class="story"><a href="javascript:alert(1)">x</a><time datetime="99999-99-99">`), "")
	base, _ := url.Parse("https://news.example/index.html")
	src := config.Source{ID: "fuzz", Type: "page", Selectors: &config.PageSelectors{
		Items: "li.story", Title: "h2", Link: "a", Summary: "p", Published: "time"}}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		d := charset.DecodeHTML(body, contentType)
		arts, err := page.Parse(d.Body, base, src, time.Unix(0, 0))
		var pe *feed.PanicError
		if errors.As(err, &pe) {
			t.Fatalf("parser panicked: %v\n%s", pe.Value, pe.Stack)
		}
		if err != nil {
			return
		}
		for _, a := range arts {
			if a.ID == "" || !utf8.ValidString(a.Title) {
				t.Fatalf("bad article %+v", a)
			}
		}
	})
}
