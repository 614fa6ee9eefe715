// Package page scrapes an HTML index page into articles with a source's
// CSS selectors (goquery), and reads a page's title.
package page

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/itlightning/dateparse"

	"newswatch/config"
	"newswatch/fetcher/feed"
	"newswatch/fetcher/internal/textutil"
	"newswatch/internal/htmltext"
	"newswatch/news"
)

// maxPageItems bounds the articles taken from one index page.
const maxPageItems = 500

// Parse turns an HTML index page into articles with the source's CSS
// selectors: Items selects each item; Title, Link, Summary and Published
// select inside it. Without a Link selector the item's own href, or its
// first link, is used; without a Title selector, that link's text.
func Parse(body []byte, pageURL *url.URL, src config.Source, now time.Time) (_ []news.Article, err error) {
	defer feed.Recover(&err)
	sel := src.Selectors
	if sel == nil || strings.TrimSpace(sel.Items) == "" {
		return nil, fmt.Errorf("page source has no selectors.items")
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", feed.ErrParse, err)
	}
	base := pageURL
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if u, err := pageURL.Parse(strings.TrimSpace(href)); err == nil {
			base = u
		}
	}
	items, err := safeFind(doc.Selection, sel.Items)
	if err != nil {
		return nil, fmt.Errorf("selectors.items: %w", err)
	}
	var arts []news.Article
	seen := map[string]bool{}
	for i := range items.Nodes {
		if len(arts) >= maxPageItems {
			break
		}
		item := items.Eq(i)
		link := pageItemLink(item, sel.Link)
		a := news.Article{V: news.Version, Source: src.ID, Fetched: now}
		a.URL = textutil.ResolveLink(base, link)
		if sel.Title != "" {
			a.Title = selText(item, sel.Title)
		} else if l := linkSel(item); l != nil {
			a.Title = htmltext.CollapseSpace(l.Text())
		}
		if a.Title == "" {
			a.Title = htmltext.CollapseSpace(item.Text())
		}
		a.Title = textutil.Truncate(a.Title, feed.MaxTitleBytes)
		if sel.Summary != "" {
			if s, err := safeFind(item, sel.Summary); err == nil && s.Length() > 0 {
				a.SummaryHTML, _ = s.First().Html()
				a.SummaryHTML = strings.TrimSpace(a.SummaryHTML)
				a.Summary = htmltext.Text(a.SummaryHTML)
			}
		}
		if sel.Published != "" {
			a.Published = pageDate(item, sel.Published)
		}
		if a.URL == "" && a.Title == "" {
			continue
		}
		if a.URL != "" {
			a.ID = news.ArticleID("", a.URL)
		} else {
			a.ID = news.ArticleID("text:"+src.ID+"\n"+a.Title, "")
		}
		if seen[a.ID] {
			continue // index pages often link a story twice (image and headline)
		}
		seen[a.ID] = true
		arts = append(arts, a)
	}
	return arts, nil
}

// safeFind is Find that reports a bad selector: goquery's Find silently
// matches nothing, which would make a typo look like an empty page.
func safeFind(s *goquery.Selection, selector string) (*goquery.Selection, error) {
	m, err := cascadia.Compile(selector)
	if err != nil {
		return nil, fmt.Errorf("bad CSS selector %q: %w", selector, err)
	}
	return s.FindMatcher(m), nil
}

func selText(item *goquery.Selection, selector string) string {
	s, err := safeFind(item, selector)
	if err != nil || s.Length() == 0 {
		return ""
	}
	return htmltext.CollapseSpace(s.First().Text())
}

func linkSel(item *goquery.Selection) *goquery.Selection {
	if goquery.NodeName(item) == "a" {
		return item
	}
	if l := item.Find("a[href]").First(); l.Length() > 0 {
		return l
	}
	return nil
}

func pageItemLink(item *goquery.Selection, selector string) string {
	if selector != "" {
		s, err := safeFind(item, selector)
		if err != nil || s.Length() == 0 {
			return ""
		}
		s = s.First()
		if href, ok := s.Attr("href"); ok {
			return href
		}
		if l := linkSel(s); l != nil {
			href, _ := l.Attr("href")
			return href
		}
		return strings.TrimSpace(s.Text())
	}
	if l := linkSel(item); l != nil {
		href, _ := l.Attr("href")
		return href
	}
	return ""
}

// pageDate reads a date from the datetime or content attribute of the
// selected element (<time datetime>, <meta content>) or from its text, in
// any of the common formats.
func pageDate(item *goquery.Selection, selector string) time.Time {
	s, err := safeFind(item, selector)
	if err != nil || s.Length() == 0 {
		return time.Time{}
	}
	s = s.First()
	cands := []string{}
	for _, attr := range []string{"datetime", "content", "title"} {
		if v, ok := s.Attr(attr); ok {
			cands = append(cands, v)
		}
	}
	cands = append(cands, s.Text())
	for _, c := range cands {
		c = strings.TrimSpace(c)
		if c == "" || len(c) > 100 {
			continue
		}
		if t, ok := parseDate(c); ok {
			return t
		}
	}
	return time.Time{}
}

// parseDate parses a date in any common format. dateparse has panicked on
// odd input before, and page text is untrusted, so a panic is a miss.
func parseDate(s string) (t time.Time, ok bool) {
	defer func() {
		if recover() != nil {
			t, ok = time.Time{}, false
		}
	}()
	t, err := dateparse.ParseAny(s)
	if err != nil || t.Year() < 1990 || t.Year() > 2200 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// Title is a page's og:title, else its <title>.
func Title(body []byte) string {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	if t, ok := doc.Find(`meta[property="og:title"]`).Attr("content"); ok && strings.TrimSpace(t) != "" {
		return htmltext.CollapseSpace(t)
	}
	return htmltext.CollapseSpace(doc.Find("title").First().Text())
}
