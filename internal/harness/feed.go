// Package harness holds the moving parts of newswatch's system tests and
// load benchmark: a feed server whose items appear over time, and a webhook
// receiver that verifies signatures, records every delivery and can be
// taken down and brought back on the same address. Everything listens on
// 127.0.0.1 only.
package harness

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"newswatch/news"
)

// Item is one feed entry.
type Item struct {
	GUID  string
	Title string
	Body  string
}

// Link is the item's link as the feed serves it.
func (it Item) Link() string { return "https://news.example.org/" + it.GUID }

// ArticleID is the id newswatch gives the item's article.
func (it Item) ArticleID() string { return news.ArticleID(it.GUID, it.Link()) }

type published struct {
	Item
	at time.Time
}

type feed struct {
	items   []published // oldest first
	version int
}

// FeedServer serves any number of RSS feeds at /feed/<name>. Items are
// added while it runs; each feed lists its newest Keep items, newest
// first, and answers conditional GETs (ETag) with 304 when nothing changed.
type FeedServer struct {
	// Keep is how many items a feed lists (0: all).
	Keep int

	mu       sync.Mutex
	feeds    map[string]*feed
	requests int64
	srv      *http.Server
	addr     string
}

// StartFeedServer serves feeds on a loopback port until Close.
func StartFeedServer() (*FeedServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("feed server: listen: %w", err)
	}
	fs := &FeedServer{feeds: map[string]*feed{}, addr: ln.Addr().String()}
	fs.srv = &http.Server{Handler: fs, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = fs.srv.Serve(ln) }()
	return fs, nil
}

// URL is the address of feed name.
func (fs *FeedServer) URL(name string) string { return "http://" + fs.addr + "/feed/" + name }

// Close stops the server.
func (fs *FeedServer) Close() error { return fs.srv.Close() }

// Add publishes it on feed name now and returns the time it became
// visible.
func (fs *FeedServer) Add(name string, it Item) time.Time {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.feeds[name]
	if f == nil {
		f = &feed{}
		fs.feeds[name] = f
	}
	now := time.Now()
	f.items = append(f.items, published{Item: it, at: now})
	f.version++
	return now
}

// Requests is the number of feed requests served.
func (fs *FeedServer) Requests() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests
}

// ServeHTTP serves /feed/<name>.
func (fs *FeedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/feed/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	fs.mu.Lock()
	fs.requests++
	f := fs.feeds[name]
	var items []published
	version := 0
	if f != nil {
		version = f.version
		items = f.items
		if fs.Keep > 0 && len(items) > fs.Keep {
			items = items[len(items)-fs.Keep:]
		}
		items = append([]published(nil), items...)
	}
	fs.mu.Unlock()

	etag := `"` + name + "-" + strconv.Itoa(version) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>`)
	b.WriteString(html.EscapeString(name))
	b.WriteString(`</title><link>https://news.example.org/</link><description>test wire</description>`)
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		fmt.Fprintf(&b, `<item><guid isPermaLink="false">%s</guid><title>%s</title><link>%s</link><description>%s</description><pubDate>%s</pubDate></item>`,
			html.EscapeString(it.GUID), html.EscapeString(it.Title), html.EscapeString(it.Link()),
			html.EscapeString(it.Body), it.at.UTC().Format(time.RFC1123Z))
	}
	b.WriteString(`</channel></rss>`)
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
