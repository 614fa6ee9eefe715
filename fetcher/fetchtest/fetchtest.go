// Package fetchtest serves synthetic feeds on loopback, for benchmarks and
// tests of the fetch path.
//
// Feed i is an RSS 2.0 document at Server.URL(i) with Options.Items items
// of about Options.ItemBytes of HTML each; a fraction Options.OnTopic of the
// items are about fentanyl trafficking and US–China relations, the rest
// are filler. Every feed answers conditional requests: an If-None-Match or
// If-Modified-Since that matches its current generation gets a 304. Bump
// starts a new generation, in which every feed has new items.
//
// Bodies are built from a small pool of templates with the feed's id
// spliced in at serve time, so 10,000 feeds cost a few megabytes, and the
// server spends microseconds per request: a benchmark measures the client.
package fetchtest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"newswatch/config"
)

// Options shape the synthetic feeds. Zero fields take the defaults of
// issue 3's workload: 20 items of ~1 KB of HTML, 5% on topic.
type Options struct {
	Feeds     int     // number of feeds (default 1)
	Items     int     // items per feed (default 20)
	ItemBytes int     // HTML bytes per item description (default 1024)
	OnTopic   float64 // fraction of on-topic items (default 0.05)
	Templates int     // distinct bodies before splicing ids (default 64)
	Seed      uint64  // for the filler text
	// ItemBytesMax, when above ItemBytes, spreads item sizes evenly
	// between ItemBytes and ItemBytesMax.
	ItemBytesMax int
	// Gzip compresses bodies for clients that accept it, as most
	// servers do.
	Gzip bool
}

// Server is a running synthetic feed server on 127.0.0.1.
type Server struct {
	*httptest.Server
	opt      Options
	parts    [][][]byte // per template: body split around the id placeholder
	gen      atomic.Int64
	touches  atomic.Int64 // Touch calls: new validators over the same items
	modTime  atomic.Int64 // unix seconds of the current generation
	requests atomic.Int64
	notMod   atomic.Int64
	bytes    atomic.Int64
}

const placeholder = "\x00"

// freshMark, in the first item's link and guid, becomes the number of
// Touch calls: Touch makes that item new.
const freshMark = "\x01"

// NewServer starts a server; Close it when done.
func NewServer(opt Options) *Server {
	if opt.Feeds <= 0 {
		opt.Feeds = 1
	}
	if opt.Items <= 0 {
		opt.Items = 20
	}
	if opt.ItemBytes <= 0 {
		opt.ItemBytes = 1024
	}
	if opt.OnTopic == 0 {
		opt.OnTopic = 0.05
	}
	if opt.Templates <= 0 {
		opt.Templates = 64
	}
	s := &Server{opt: opt}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6e657773))
	for t := 0; t < opt.Templates; t++ {
		body := template(opt, rng)
		s.parts = append(s.parts, bytes.Split(body, []byte(placeholder)))
	}
	s.modTime.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Many keep-alive connections from many workers; the default backlog
	// and limits are fine, but keep the listener on IPv4 loopback.
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		s.Server.Listener.Close()
		s.Server.Listener = l
	}
	s.Server.Start()
	return s
}

// URL is feed i's address.
func (s *Server) URL(i int) string { return fmt.Sprintf("%s/feed/%d.xml", s.Server.URL, i) }

// Sources lists every feed as a config source with ids feed-0, feed-1, …
func (s *Server) Sources() []config.Source {
	out := make([]config.Source, s.opt.Feeds)
	for i := range out {
		out[i] = config.Source{ID: "feed-" + strconv.Itoa(i), Type: "feed", URL: s.URL(i), Interval: time.Minute}
	}
	return out
}

// Body returns the bytes feed i serves in the current generation.
func (s *Server) Body(i int) []byte {
	var b bytes.Buffer
	s.write(&b, i)
	return b.Bytes()
}

// Bump starts a new generation: every feed gets new items and validators.
func (s *Server) Bump() {
	s.gen.Add(1)
	s.modTime.Add(60)
}

// Touch gives every feed new validators and one new item in place of its
// first: the next fetch of each is a 200 whose other items were all seen
// before, the steady state of a feed.
func (s *Server) Touch() {
	s.touches.Add(1)
	s.modTime.Add(60)
}

// Stats reports requests served, how many of them were 304s, and body
// bytes sent.
func (s *Server) Stats() (requests, notModified, bytes int64) {
	return s.requests.Load(), s.notMod.Load(), s.bytes.Load()
}

func (s *Server) etag(i int) string {
	return `"` + strconv.Itoa(i) + "-" + strconv.FormatInt(s.gen.Load(), 10) + "." + strconv.FormatInt(s.touches.Load(), 10) + `"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	name, ok := strings.CutPrefix(r.URL.Path, "/feed/")
	name, ok2 := strings.CutSuffix(name, ".xml")
	i, err := strconv.Atoi(name)
	if !ok || !ok2 || err != nil || i < 0 || i >= s.opt.Feeds {
		http.NotFound(w, r)
		return
	}
	etag := s.etag(i)
	mod := time.Unix(s.modTime.Load(), 0).UTC().Format(http.TimeFormat)
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", mod)
	if inm := r.Header.Get("If-None-Match"); inm == etag || (inm == "" && r.Header.Get("If-Modified-Since") == mod) {
		s.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	var b bytes.Buffer
	s.write(&b, i)
	if s.opt.Gzip && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		_, _ = zw.Write(b.Bytes())
		_ = zw.Close()
		b = z
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	n, _ := w.Write(b.Bytes())
	s.bytes.Add(int64(n))
}

// write splices feed i's id (and generation) into its template.
func (s *Server) write(b *bytes.Buffer, i int) {
	parts := s.parts[i%len(s.parts)]
	id := strconv.Itoa(i) + "-" + strconv.FormatInt(s.gen.Load(), 10)
	fresh := ""
	if t := s.touches.Load(); t > 0 {
		fresh = "t" + strconv.FormatInt(t, 10)
	}
	for k, p := range parts {
		if k > 0 {
			b.WriteString(id)
		}
		if bytes.Contains(p, []byte(freshMark)) {
			b.Write(bytes.ReplaceAll(p, []byte(freshMark), []byte(fresh)))
			continue
		}
		b.Write(p)
	}
}

var onTopic = []string{
	"Federal prosecutors charged a network that imported fentanyl precursors from suppliers in China.",
	"Officials in Washington and Beijing discussed export controls, tariffs and counternarcotics cooperation.",
	"The Treasury sanctioned companies accused of shipping synthetic opioid precursor chemicals.",
	"Border agents reported a record seizure of fentanyl pills hidden in a truck.",
}

var filler = strings.Fields(`the city council met on tuesday to discuss the budget for
next year including new parks road repairs school funding and a plan to expand public
transit service along the river while residents raised concerns about parking noise and
the timeline for construction that officials said would begin in the spring weather
permitting and finish before the end of the following year according to the mayor`)

func template(opt Options, rng *rand.Rand) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>` + "\n")
	b.WriteString("<title>Synthetic feed " + placeholder + "</title>\n")
	b.WriteString("<link>http://news.example/" + placeholder + "/</link>\n")
	b.WriteString("<description>A synthetic feed for benchmarks.</description>\n")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for k := 0; k < opt.Items; k++ {
		topical := rng.Float64() < opt.OnTopic
		title := fmt.Sprintf("Council news item %d", k)
		if topical {
			title = fmt.Sprintf("Fentanyl trafficking and US-China talks, report %d", k)
		}
		b.WriteString("<item>\n<title>" + title + "</title>\n")
		mark := ""
		if k == 0 {
			mark = freshMark
		}
		fmt.Fprintf(&b, "<link>http://news.example/%s/story-%d%s.html</link>\n", placeholder, k, mark)
		fmt.Fprintf(&b, "<guid isPermaLink=\"false\">synthetic-%s-%d%s</guid>\n", placeholder, k, mark)
		fmt.Fprintf(&b, "<pubDate>%s</pubDate>\n", base.Add(-time.Duration(k)*time.Hour).Format(time.RFC1123Z))
		b.WriteString("<dc:creator>Staff Reporter</dc:creator>\n<category>Local</category>\n")
		b.WriteString("<description><![CDATA[")
		start, size := b.Len(), opt.ItemBytes
		if opt.ItemBytesMax > size {
			size += rng.IntN(opt.ItemBytesMax - size + 1)
		}
		for b.Len()-start < size {
			b.WriteString("<p>")
			if topical && rng.IntN(3) == 0 {
				b.WriteString(onTopic[rng.IntN(len(onTopic))] + " ")
			}
			for w := 0; w < 25; w++ {
				b.WriteString(filler[rng.IntN(len(filler))])
				b.WriteByte(' ')
			}
			b.WriteString("&amp; <a href=\"http://news.example/more\">more</a>.</p>")
		}
		b.WriteString("]]></description>\n</item>\n")
	}
	b.WriteString("</channel></rss>\n")
	return b.Bytes()
}
