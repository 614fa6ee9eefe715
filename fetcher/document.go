package fetcher

import (
	"bytes"
	"fmt"
	"net/url"
	"time"

	"newswatch/fetcher/charset"
	"newswatch/fetcher/extract"
	"newswatch/fetcher/feed"
	"newswatch/fetcher/internal/textutil"
	"newswatch/fetcher/page"
	"newswatch/news"
)

// ParseFeed turns a feed document (RSS, Atom or JSON Feed, in any charset)
// into articles, as Fetch would; base resolves relative links.
func ParseFeed(body []byte, contentType, base, sourceID string) ([]news.Article, error) {
	u, _ := url.Parse(base)
	if u == nil {
		u = &url.URL{}
	}
	d := charset.DecodeXML(body, contentType)
	return feed.Parse(d.Body, u, sourceID, time.Now().UTC())
}

// ExtractArticle turns an HTML article page into one article holding its
// title and main text.
func ExtractArticle(body []byte, contentType, pageURL string) (news.Article, error) {
	u, _ := url.Parse(pageURL)
	if u == nil {
		u = &url.URL{}
	}
	d := charset.DecodeHTML(body, contentType)
	text, htm, err := extract.Extract(d.Body, u)
	if err != nil {
		return news.Article{}, fmt.Errorf("extract %s: %w", pageURL, err)
	}
	a := news.Article{V: news.Version, URL: pageURL, Content: text, ContentHTML: htm, Fetched: time.Now().UTC()}
	a.Title = page.Title(d.Body)
	a.ID = news.ArticleID("", pageURL)
	return a, nil
}

// LooksLikeFeed tells a feed document from an HTML page or plain text by
// its first bytes.
func LooksLikeFeed(body []byte) bool {
	h := bytes.ToLower(textutil.Head(bytes.TrimLeft(body, "\xef\xbb\xbf \t\r\n"), 512))
	if bytes.HasPrefix(h, []byte("{")) {
		return bytes.Contains(h, []byte("jsonfeed.org"))
	}
	return bytes.Contains(h, []byte("<rss")) || bytes.Contains(h, []byte("<feed")) || bytes.Contains(h, []byte("<rdf:rdf"))
}

// LooksLikeHTML tells an HTML page from plain text.
func LooksLikeHTML(body []byte) bool {
	h := bytes.ToLower(textutil.Head(bytes.TrimLeft(body, "\xef\xbb\xbf \t\r\n"), 1024))
	return bytes.HasPrefix(h, []byte("<!doctype html")) || bytes.Contains(h, []byte("<html")) || bytes.Contains(h, []byte("<body"))
}
