package fetcher

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"newswatch/config"
)

// addFixtureSeeds adds a few files of the feedparser suite (if present)
// to a fuzz corpus.
func addFixtureSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join(fixtures, pattern))
	for i, p := range files {
		if i >= 40 {
			break
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "")
		}
	}
}

func FuzzParseFeed(f *testing.F) {
	f.Add([]byte(rssFeed), "application/rss+xml")
	f.Add([]byte(fragmentedFeed(300)), "")
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","url":"/a","content_html":"<p>x</p>"}]}`), "application/feed+json")
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id><title type="html">&lt;b&gt;t</title><link href="a"/></entry></feed>`), "")
	addFixtureSeeds(f, "feeds/feedparser/encoding/*.xml")
	addFixtureSeeds(f, "feeds/feedparser/illformed/*.xml")
	base, _ := url.Parse("https://news.example/feed.xml")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		d := decodeXML(body, contentType)
		if !utf8.Valid(d.body) {
			t.Fatalf("decoded body is not UTF-8 (%s from %s)", d.charset, d.from)
		}
		arts, err := parseFeed(d.body, base, "fuzz", time.Unix(0, 0))
		if err != nil {
			return
		}
		for _, a := range arts {
			if a.ID == "" || !utf8.ValidString(a.Title) || !utf8.ValidString(a.Summary) || !utf8.ValidString(a.Content) {
				t.Fatalf("bad article %+v", a)
			}
			if a.URL != "" && !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
				t.Fatalf("non-http link %q", a.URL)
			}
		}
	})
}

func FuzzParsePage(f *testing.F) {
	f.Add([]byte(indexPage), "text/html")
	f.Add([]byte(`<li class="story"><a href="javascript:alert(1)">x</a><time datetime="99999-99-99">`), "")
	base, _ := url.Parse("https://news.example/index.html")
	src := config.Source{ID: "fuzz", Type: "page", Selectors: &config.PageSelectors{
		Items: "li.story", Title: "h2", Link: "a", Summary: "p", Published: "time"}}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		d := decodeHTML(body, contentType)
		arts, err := parsePage(d.body, base, src, time.Unix(0, 0))
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

func FuzzExtract(f *testing.F) {
	f.Add([]byte(`<html><body><article><p>` + strings.Repeat("Some article text. ", 60) + `</p></article></body></html>`))
	// Small seeds only: the fuzzer crawls on 100 KB pages; the real pages
	// are covered by TestReadabilityFixtures.
	f.Add([]byte(`<html><head><title>T</title></head><body><div class="nav"><a href="/">Home</a></div><div id="content"><h1>Title</h1><p>` +
		strings.Repeat("Fentanyl precursors were seized at the port, officials said. ", 20) + `</p><p>Second paragraph.</p></div><footer>© 2026</footer></body></html>`))
	f.Add([]byte(strings.Repeat("<div>", 3000)))
	pageURL, _ := url.Parse("https://news.example/a.html")
	f.Fuzz(func(t *testing.T, body []byte) {
		d := decodeHTML(body, "text/html")
		text, _, err := extract(d.body, pageURL)
		if err == nil && (text == "" || !utf8.ValidString(text)) {
			t.Fatalf("extract returned %q without error", text)
		}
	})
}

func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "&#226;&#128;&#166;", "don&#146;t", "<script>x", "a<b", "\x80\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := htmlToText(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", out)
		}
		if strings.Contains(out, "  ") {
			t.Fatalf("uncollapsed space: %q", out)
		}
	})
}

func FuzzGuardXML(f *testing.F) {
	f.Add([]byte(fragmentedFeed(maxTextFragments + 2)))
	f.Add([]byte(`<a><![CDATA[x]]><!-- c --><?pi?>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := guardXML(b)
		if err != nil {
			return
		}
		if frags, _ := xmlShape(out); frags > maxTextFragments {
			t.Fatalf("still %d fragments after guard", frags)
		}
	})
}
