// Package feed parses RSS (0.9x, 1.0, 2.0), Atom and JSON Feed documents,
// already decoded to UTF-8, into articles. gofeed does the parsing; a
// linear scan of the body first refuses or reshapes what would make it
// build far more than it reads (xmlscan.go, guard.go), and a large feed is
// parsed a window of items at a time (feedwindow.go).
package feed

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"newswatch/fetcher/internal/textutil"
	"newswatch/internal/htmltext"
	"newswatch/news"
)

// Errors a parse can be classified by with errors.Is.
var (
	ErrNotFeed = errors.New("fetcher: not a feed")
	ErrParse   = errors.New("fetcher: cannot parse")
)

// Caps on what one item may carry into an article; feeds are untrusted.
const (
	MaxTitleBytes = 2 << 10 // also for titles scraped from pages
	maxCategories = 64
	maxAuthors    = 32
)

// Parse parses a UTF-8 feed body (RSS, Atom or JSON Feed) into
// articles. base is the URL the feed was fetched from, against which
// relative item links are resolved.
func Parse(body []byte, base *url.URL, sourceID string, now time.Time) ([]news.Article, error) {
	arts, err := ParseWithoutText(body, base, sourceID, now)
	for i := range arts {
		FillText(&arts[i])
	}
	return arts, err
}

// ParseWithoutText is Parse that leaves each article's Summary and Content
// (the plain text of its HTML) empty for FillText: a caller that keeps
// only the items it has not seen before spends nothing on the others.
func ParseWithoutText(body []byte, base *url.URL, sourceID string, now time.Time) (_ []news.Article, err error) {
	defer Recover(&err)
	if isJSON(body) {
		if err := checkJSONFeed(body); err != nil {
			return nil, err
		}
		return parseWhole(body, base, sourceID, now)
	}
	body, st, err := guardXMLStats(body)
	if err != nil {
		return nil, err
	}
	if st.elements <= windowElements && st.attrs <= windowAttrs {
		return parseWhole(body, base, sourceID, now)
	}
	return parseWindows(body, st, base, sourceID, now)
}

// FillText sets a's Summary and Content to the plain text of SummaryHTML
// and ContentHTML where they are empty.
func FillText(a *news.Article) {
	if a.Summary == "" && a.SummaryHTML != "" {
		a.Summary = htmltext.Text(a.SummaryHTML)
	}
	if a.Content == "" && a.ContentHTML != "" {
		a.Content = htmltext.Text(a.ContentHTML)
	}
}

// parseWhole parses a feed in one piece.
func parseWhole(body []byte, base *url.URL, sourceID string, now time.Time) ([]news.Article, error) {
	feed, err := newFeedParser().Parse(bytes.NewReader(body))
	if err != nil && !errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		// A body cut short inside its last tag ("</rss") is common enough
		// (truncating proxies, hand-made feeds) to be worth one retry.
		if fixed, ok := closeLastTag(body); ok {
			if f2, err2 := newFeedParser().Parse(bytes.NewReader(fixed)); err2 == nil {
				feed, err = f2, nil
			}
		}
	}
	if err != nil {
		if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
			return nil, notFeedError(body, base)
		}
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	base, lang := feedBase(feed, base), feedLanguage(feed)
	stable := stableGUIDs(feed.Items)
	arts := make([]news.Article, 0, len(feed.Items))
	for _, it := range feed.Items {
		if it == nil {
			continue
		}
		a, ok := itemArticle(it, base, stable, sourceID, now)
		if !ok {
			continue
		}
		a.Language = lang
		arts = append(arts, a)
	}
	return arts, nil
}

// feedBase is the URL item links are relative to: the feed's site link
// when it has one, else the URL it was fetched from.
func feedBase(feed *gofeed.Feed, base *url.URL) *url.URL {
	if feed.Link != "" {
		if u, err := base.Parse(strings.TrimSpace(feed.Link)); err == nil && u.IsAbs() {
			return u
		}
	}
	return base
}

func feedLanguage(feed *gofeed.Feed) string {
	lang := strings.TrimSpace(feed.Language)
	if lang == "" && feed.DublinCoreExt != nil && len(feed.DublinCoreExt.Language) > 0 {
		lang = strings.TrimSpace(feed.DublinCoreExt.Language[0])
	}
	return lang
}

func itemArticle(it *gofeed.Item, base *url.URL, stableGUID bool, sourceID string, now time.Time) (news.Article, bool) {
	a := news.Article{
		V:           news.Version,
		Source:      sourceID,
		GUID:        strings.TrimSpace(it.GUID),
		Title:       textutil.Truncate(htmltext.Text(it.Title), MaxTitleBytes),
		SummaryHTML: strings.TrimSpace(it.Description),
		ContentHTML: strings.TrimSpace(it.Content),
		Fetched:     now,
	}
	a.URL = itemLink(it, base)
	if a.Title == "" {
		// Title-less items (microblogs, some JSON feeds) still need a
		// headline for alerts: the start of the text. (The text of the
		// others is left for FillText.)
		FillText(&a)
		a.Title = textutil.Truncate(textutil.FirstLine(textutil.FirstNonEmpty(a.Summary, a.Content)), 200)
	}
	if it.PublishedParsed != nil {
		a.Published = it.PublishedParsed.UTC()
	}
	if it.UpdatedParsed != nil {
		a.Updated = it.UpdatedParsed.UTC()
		if a.Published.IsZero() {
			a.Published = a.Updated
		}
	}
	a.Categories = cleanList(it.Categories, maxCategories)
	authors := make([]string, 0, len(it.Authors))
	for _, p := range it.Authors {
		if p == nil {
			continue
		}
		authors = append(authors, textutil.FirstNonEmpty(p.Name, p.Email))
	}
	a.Authors = cleanList(authors, maxAuthors)
	return a, setArticleID(&a, stableGUID, sourceID)
}

// setArticleID identifies a by its GUID (if the feed's GUIDs are stable)
// and link, else by its text; it reports false when a has none of these.
func setArticleID(a *news.Article, stableGUID bool, sourceID string) bool {
	guid := a.GUID
	if !stableGUID {
		guid = ""
	}
	switch {
	case guid != "" || a.URL != "":
		a.ID = news.ArticleID(guid, a.URL)
	case a.Title != "" || a.SummaryHTML != "" || a.ContentHTML != "":
		// Neither GUID nor link: identify by what is left, so a repeat of
		// the same item is still recognised.
		a.ID = news.ArticleID("text:"+sourceID+"\n"+a.Title+"\n"+textutil.Truncate(textutil.FirstNonEmpty(a.SummaryHTML, a.ContentHTML), 500), "")
	default:
		return false
	}
	return true
}

// newFeedParser returns a gofeed parser without the item image scan: it
// HTML-parses every description to find an <img>, a fifth of the parse
// time, for a field newswatch does not use.
func newFeedParser() *gofeed.Parser {
	p := gofeed.NewParser()
	p.RSSTranslator = &gofeed.DefaultRSSTranslator{DisableContentImageScan: true}
	return p
}

// closeLastTag appends the '>' missing from a body's final tag.
func closeLastTag(body []byte) ([]byte, bool) {
	t := bytes.TrimRight(body, " \t\r\n")
	i := bytes.LastIndexByte(t, '<')
	if i < 0 || bytes.IndexByte(t[i:], '>') >= 0 {
		return nil, false
	}
	return append(t[:len(t):len(t)], '>'), true
}

// stableGUIDs reports whether the feed's GUIDs can identify its items:
// a feed that gives two different items the same GUID (a constant, or a
// per-day value) cannot be trusted with them, and links are used instead.
func stableGUIDs(items []*gofeed.Item) bool {
	return addGUIDs(make(map[string]string, len(items)), items)
}

// addGUIDs adds items' GUIDs and links to seen, and reports whether every
// GUID in seen still names one link.
func addGUIDs(seen map[string]string, items []*gofeed.Item) bool {
	for _, it := range items {
		if it == nil {
			continue
		}
		g := strings.TrimSpace(it.GUID)
		if g == "" {
			continue
		}
		link := news.NormalizeURL(it.Link)
		if prev, dup := seen[g]; dup && prev != link {
			return false
		}
		seen[g] = link
	}
	return true
}

// itemLink is the item's absolute http(s) link: its link, else its first
// alternate, else a GUID that is a URL.
func itemLink(it *gofeed.Item, base *url.URL) string {
	cands := make([]string, 0, 2+len(it.Links))
	cands = append(cands, it.Link)
	cands = append(cands, it.Links...)
	cands = append(cands, it.GUID)
	for i, c := range cands {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if i == len(cands)-1 && !strings.Contains(c, "://") {
			break // a GUID that is not a URL is no link
		}
		if u := textutil.ResolveLink(base, c); u != "" {
			return u
		}
	}
	return ""
}

// notFeedError explains a body gofeed could not recognise: an HTML page
// (naming the feed it advertises, if any), or something else.
func notFeedError(body []byte, base *url.URL) error {
	h := bytes.ToLower(textutil.Head(bytes.TrimSpace(body), 2048))
	if len(h) == 0 {
		return fmt.Errorf("%w: empty body", ErrNotFeed)
	}
	if bytes.Contains(h, []byte("<html")) || bytes.HasPrefix(h, []byte("<!doctype html")) {
		if alt := feedLinkInHTML(body, base); alt != "" {
			return fmt.Errorf("%w: got an HTML page; it advertises a feed at %s", ErrNotFeed, alt)
		}
		return fmt.Errorf("%w: got an HTML page, not RSS, Atom or JSON Feed", ErrNotFeed)
	}
	return fmt.Errorf("%w: not RSS, Atom or JSON Feed (starts %q)", ErrNotFeed, textutil.Truncate(string(textutil.Head(body, 40)), 40))
}

// feedLinkInHTML finds <link rel="alternate" type="application/rss+xml"
// href="..."> (or Atom, JSON Feed) in an HTML page.
func feedLinkInHTML(body []byte, base *url.URL) string {
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if a := atom.Lookup(name); a == atom.Body {
				return ""
			} else if a != atom.Link || !hasAttr {
				continue
			}
			var rel, typ, href string
			for {
				k, v, more := z.TagAttr()
				switch string(k) {
				case "rel":
					rel = strings.ToLower(string(v))
				case "type":
					typ = strings.ToLower(string(v))
				case "href":
					href = string(v)
				}
				if !more {
					break
				}
			}
			if strings.Contains(rel, "alternate") && (strings.Contains(typ, "rss") || strings.Contains(typ, "atom") || strings.Contains(typ, "feed+json")) {
				if u := textutil.ResolveLink(base, href); u != "" {
					return u
				}
			}
		}
	}
}

func cleanList(in []string, limit int) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(in), limit))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		s = textutil.Truncate(htmltext.Text(s), 256)
		if s == "" || seen[strings.ToLower(s)] {
			continue
		}
		seen[strings.ToLower(s)] = true
		out = append(out, s)
		if len(out) == limit {
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
