// Package fetcher downloads feeds and pages and turns them into articles.
//
// It is the HTTP and parsing half of newswatch's fetch stage and knows
// nothing of NATS: the caller schedules sources, keeps each source's
// Validator between fetches, de-duplicates articles by id and publishes
// them. Fetch gets one source (RSS, Atom or JSON Feed, or an HTML index
// page via CSS selectors) and returns its items as news.Article; FullText
// replaces an article's teaser with the main text of its page.
//
// This package is the façade the pipeline and the commands use; each job
// lives in a package of its own below it:
//
//	httpc     the polite, guarded HTTP client; host limits, Retry-After, back-off
//	charset   decoding a body to UTF-8
//	feed      RSS, Atom and JSON Feed parsing, with the XML shape guard
//	page      index pages scraped with CSS selectors
//	extract   the main text of an article page
//	websub    WebSub subscriptions and content pushes
//
// HTML-to-text, shared with the classifier, is newswatch/internal/htmltext.
// Nothing the fetcher is fed makes it panic or hang.
package fetcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"newswatch/config"
	"newswatch/fetcher/charset"
	"newswatch/fetcher/extract"
	"newswatch/fetcher/feed"
	"newswatch/fetcher/httpc"
	"newswatch/fetcher/page"
	"newswatch/fetcher/websub"
	"newswatch/news"
)

// Errors a fetch can be classified by with errors.Is; they are the
// subpackages' own, so that either name matches. ErrPrivateNetwork names
// the setting that lifts it, for operators with private sources.
var (
	ErrTooLarge         = httpc.ErrTooLarge
	ErrTooManyRedirects = httpc.ErrTooManyRedirects
	ErrPrivateNetwork   = httpc.ErrPrivateNetwork
	ErrTimeout          = httpc.ErrTimeout
	ErrNotFeed          = feed.ErrNotFeed
	ErrParse            = feed.ErrParse
	ErrNoContent        = extract.ErrNoContent
)

// StatusError is the error for an HTTP answer that is neither 2xx nor 304.
type StatusError = httpc.StatusError

// Validator is the conditional-GET state of a source, kept between fetches
// by the caller.
type Validator = httpc.Validator

// Result is what one fetch of a source found.
type Result struct {
	Articles    []news.Article // empty when NotModified
	NotModified bool           // 304
	Status      int            // HTTP status code
	Validator   Validator      // to send next time
	RetryAfter  time.Duration  // from a 429/503 Retry-After, else 0
	Bytes       int64          // body bytes after decompression
	Charset     string         // charset the body was read as, e.g. "gb18030"
	// Hub and Self are the feed's WebSub hub and canonical (topic) URL,
	// when it advertises them; see WebSub.
	Hub, Self string
}

// Defaults for config.Fetch fields left zero.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxBodyBytes = 10 << 20
	DefaultPerHost      = 2
	DefaultHostInterval = 500 * time.Millisecond
)

// MaxBackoff caps the delay between retries of a failing source; see
// Backoff.
const MaxBackoff = httpc.MaxBackoff

// Backoff is the delay before retrying a source after n consecutive
// failures (see httpc.Backoff).
func Backoff(n int, interval time.Duration) time.Duration { return httpc.Backoff(n, interval) }

// Fetcher fetches sources. It is safe for concurrent use; make one per
// process so that the per-host limits hold across all fetches.
type Fetcher struct {
	log       *slog.Logger
	client    *httpc.Client
	now       func() time.Time
	deferText bool
}

// New returns a Fetcher for cfg; zero fields take the package defaults
// (a negative HostInterval disables the minimum interval).
func New(cfg config.Fetch, logger *slog.Logger) *Fetcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := httpc.Options{
		UserAgent:            cfg.UserAgent,
		Timeout:              cfg.Timeout,
		MaxBody:              cfg.MaxBodyBytes,
		PerHost:              cfg.PerHost,
		HostInterval:         cfg.HostInterval,
		AllowPrivateNetworks: cfg.AllowPrivateNetworks,
		Logger:               logger,
	}
	if o.UserAgent == "" {
		o.UserAgent = config.DefaultUserAgent
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBodyBytes
	}
	if o.PerHost <= 0 {
		o.PerHost = DefaultPerHost
	}
	if o.HostInterval == 0 {
		o.HostInterval = DefaultHostInterval
	}
	return &Fetcher{log: logger, client: httpc.New(o), now: time.Now}
}

// DeferText makes Fetch leave the plain text of feed items (Summary,
// Content) empty, for the caller to fill with FillText on the articles it
// keeps: a refresh where most items were seen before then spends nothing
// on the text of those. Call it before the first Fetch.
func (f *Fetcher) DeferText() { f.deferText = true }

// FillText sets a's Summary and Content to the plain text of its HTML
// where they are empty (the articles of a Fetcher with DeferText). The
// conversion runs outside the parser's guard: should it panic (a bug, on
// hostile HTML), the HTML itself stands in for the text, so that the
// article still goes out and is classified on its words, and the panic
// is returned (a *feed.PanicError, with its stack) for the caller to log.
func FillText(a *news.Article) (err error) {
	defer func() {
		if err != nil {
			a.Summary = cmp.Or(a.Summary, a.SummaryHTML)
			a.Content = cmp.Or(a.Content, a.ContentHTML)
		}
	}()
	defer feed.Recover(&err)
	feed.FillText(a)
	return nil
}

// Fetch fetches and parses one source (feed or page). prev is the
// Validator of the previous fetch (zero for none). Errors name the source
// and URL; an HTTP answer other than 2xx and 304 is a *StatusError, and the
// Result is then returned too, with Status and RetryAfter set. A body that
// does not parse returns the Result too (Status, Bytes, Charset), with prev
// as its Validator.
func (f *Fetcher) Fetch(ctx context.Context, src config.Source, prev Validator) (*Result, error) {
	res, err := f.fetch(ctx, src, prev)
	if err != nil {
		return res, fmt.Errorf("fetch %s %s: %w", src.ID, src.URL, err)
	}
	return res, nil
}

func (f *Fetcher) fetch(ctx context.Context, src config.Source, prev Validator) (*Result, error) {
	accept := "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
	if src.Type == "page" {
		accept = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"
	}
	resp, err := f.client.Get(ctx, src.URL, true, prev, accept)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			return &Result{Status: se.Code, RetryAfter: se.RetryAfter, Validator: prev}, err
		}
		return nil, err
	}
	res := &Result{Status: resp.Status, Validator: resp.Validator, Bytes: int64(len(resp.Body))}
	if resp.Status == http.StatusNotModified {
		res.NotModified = true
		return res, nil
	}
	now := f.now().UTC()
	switch src.Type {
	case "page":
		d := charset.DecodeHTML(resp.Body, resp.Header.Get("Content-Type"))
		res.Charset = d.Charset
		f.logCharset(src.ID, d)
		res.Articles, err = page.Parse(d.Body, resp.URL, src, now)
	default:
		d := charset.DecodeXML(resp.Body, resp.Header.Get("Content-Type"))
		res.Charset = d.Charset
		f.logCharset(src.ID, d)
		res.Hub, res.Self = websub.DiscoverHub(resp.Header, d.Body, resp.URL)
		parse := feed.Parse
		if f.deferText {
			parse = feed.ParseWithoutText
		}
		res.Articles, err = parse(d.Body, resp.URL, src.ID, now)
	}
	if err != nil {
		// Keep the old validator: a new one would turn the next fetch of
		// this body into a 304, and the parse error would go unseen.
		res.Validator = prev
		logParserPanic(f.log, src.ID, err)
		return res, err
	}
	return res, nil
}

// ParserPanicked reports whether err is a parser's panic on a document
// (a bug, logged with its stack by Fetch).
func ParserPanicked(err error) bool {
	_, ok := feed.PanicStack(err)
	return ok
}

// PanicStack is the stack of the parser panic err holds, if it holds one.
func PanicStack(err error) (string, bool) { return feed.PanicStack(err) }

// logParserPanic logs, with its stack, a parser's panic on a document
// (the source fails to parse and shows as failing): a bug to report.
func logParserPanic(log *slog.Logger, source string, err error) {
	if stack, ok := feed.PanicStack(err); ok {
		log.Error("parser failed on a document from this source; the source is reported as not parsing. Please report this bug with the stack",
			"source", source, "err", err, "stack", stack)
	}
}

// logCharset notes a charset that was guessed rather than declared: the
// first thing to check when a source's text looks wrong.
func (f *Fetcher) logCharset(source string, d charset.Decoded) {
	if d.Guessed() {
		f.log.Debug("charset guessed", "source", source, "charset", d.Charset)
	}
}
