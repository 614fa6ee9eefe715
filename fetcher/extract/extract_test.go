package extract

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"newswatch/fetcher/charset"
)

func FuzzExtract(f *testing.F) {
	f.Add([]byte(`<html><body><article><p>` + strings.Repeat("Some article text. ", 60) + `</p></article></body></html>`))
	// Small seeds only: the fuzzer crawls on 100 KB pages; the real pages
	// are covered by TestReadabilityFixtures.
	f.Add([]byte(`<html><head><title>T</title></head><body><div class="nav"><a href="/">Home</a></div><div id="content"><h1>Title</h1><p>` +
		strings.Repeat("Fentanyl precursors were seized at the port, officials said. ", 20) + `</p><p>Second paragraph.</p></div><footer>© 2026</footer></body></html>`))
	f.Add([]byte(strings.Repeat("<div>", 3000)))
	pageURL, _ := url.Parse("https://news.example/a.html")
	f.Fuzz(func(t *testing.T, body []byte) {
		d := charset.DecodeHTML(body, "text/html")
		text, _, err := Extract(d.Body, pageURL)
		if err == nil && (text == "" || !utf8.ValidString(text)) {
			t.Fatalf("extract returned %q without error", text)
		}
	})
}
