package fetcher

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"

	"newswatch/news"
)

// ParseFeed turns a feed document (RSS, Atom or JSON Feed, in any charset)
// into articles, as Fetch would; base resolves relative links.
func ParseFeed(body []byte, contentType, base, sourceID string) ([]news.Article, error) {
	u, _ := url.Parse(base)
	if u == nil {
		u = &url.URL{}
	}
	d := decodeXML(body, contentType)
	return parseFeed(d.body, u, sourceID, time.Now().UTC())
}

// ExtractArticle turns an HTML article page into one article holding its
// title and main text.
func ExtractArticle(body []byte, contentType, pageURL string) (news.Article, error) {
	u, _ := url.Parse(pageURL)
	if u == nil {
		u = &url.URL{}
	}
	d := decodeHTML(body, contentType)
	text, htm, err := extract(d.body, u)
	if err != nil {
		return news.Article{}, fmt.Errorf("extract %s: %w", pageURL, err)
	}
	a := news.Article{V: news.Version, URL: pageURL, Content: text, ContentHTML: htm, Fetched: time.Now().UTC()}
	a.Title = pageTitle(d.body)
	a.ID = news.ArticleID("", pageURL)
	return a, nil
}

// LooksLikeFeed tells a feed document from an HTML page or plain text by
// its first bytes.
func LooksLikeFeed(body []byte) bool {
	h := bytes.ToLower(head(bytes.TrimLeft(body, "\xef\xbb\xbf \t\r\n"), 512))
	if bytes.HasPrefix(h, []byte("{")) {
		return bytes.Contains(h, []byte("jsonfeed.org"))
	}
	return bytes.Contains(h, []byte("<rss")) || bytes.Contains(h, []byte("<feed")) || bytes.Contains(h, []byte("<rdf:rdf"))
}

// LooksLikeHTML tells an HTML page from plain text.
func LooksLikeHTML(body []byte) bool {
	h := bytes.ToLower(head(bytes.TrimLeft(body, "\xef\xbb\xbf \t\r\n"), 1024))
	return bytes.HasPrefix(h, []byte("<!doctype html")) || bytes.Contains(h, []byte("<html")) || bytes.Contains(h, []byte("<body"))
}

// pageTitle is a page's og:title, else its <title>.
func pageTitle(body []byte) string {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	if t, ok := doc.Find(`meta[property="og:title"]`).Attr("content"); ok && strings.TrimSpace(t) != "" {
		return collapseSpace(t)
	}
	return collapseSpace(doc.Find("title").First().Text())
}
