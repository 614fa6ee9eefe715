package fetcher

import (
	"errors"
	"strings"
	"testing"
)

func TestImportOPML(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="World">
    <outline text="BBC News - World" type="rss" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
    <outline text="Le Monde – International" title="Le Monde – Économie &amp; Monde" xmlUrl="https://www.lemonde.fr/international/rss_full.xml"/>
    <outline text="BBC News - World" xmlUrl="https://feeds.bbci.co.uk/news/world/asia/rss.xml"/>
    <outline text="dup" xmlUrl="https://FEEDS.bbci.co.uk/news/world/rss.xml#x"/>
  </outline>
  <outline text="新华网" xmlUrl="http://www.xinhuanet.com/rss/world.xml"/>
  <outline text="bad scheme" xmlUrl="ftp://example.org/feed"/>
  <outline text="taken" xmlUrl="https://example.org/feed"/>
</body></opml>`
	srcs, err := ImportOPML(strings.NewReader(doc), map[string]bool{"taken": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, url string }{
		{"bbc-news-world", "https://feeds.bbci.co.uk/news/world/rss.xml"},
		{"le-monde-economie-monde", "https://www.lemonde.fr/international/rss_full.xml"},
		{"bbc-news-world-2", "https://feeds.bbci.co.uk/news/world/asia/rss.xml"},
		{"xinhuanet-com", "http://www.xinhuanet.com/rss/world.xml"},
		{"taken-2", "https://example.org/feed"},
	}
	if len(srcs) != len(want) {
		t.Fatalf("got %d sources: %+v", len(srcs), srcs)
	}
	for i, w := range want {
		if srcs[i].ID != w.id || srcs[i].URL != w.url || srcs[i].Type != "feed" {
			t.Errorf("source %d = %+v, want id %s url %s", i, srcs[i], w.id, w.url)
		}
	}
}

func TestImportOPMLErrors(t *testing.T) {
	if _, err := ImportOPML(strings.NewReader("not xml at all"), nil); !errors.Is(err, ErrParse) {
		t.Errorf("garbage: err = %v", err)
	}
	deep := "<opml><body>" + strings.Repeat("<outline>", 100) + strings.Repeat("</outline>", 100) + "</body></opml>"
	if _, err := ImportOPML(strings.NewReader(deep), nil); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("deep nesting: err = %v", err)
	}
}
