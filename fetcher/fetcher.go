// Package fetcher downloads feeds and pages and turns them into articles.
//
// It is the HTTP and parsing half of newswatch's fetch stage and knows
// nothing of NATS: the caller schedules sources, keeps each source's
// Validator between fetches, de-duplicates articles by id and publishes
// them. Fetch gets one source (RSS, Atom or JSON Feed via gofeed, or an
// HTML index page via CSS selectors) and returns its items as
// news.Article; FullText replaces an article's teaser with the main text of
// its page.
//
// The fetcher is a polite and defensive client: conditional GET, gzip, a
// per-host concurrency limit and minimum interval between requests,
// Retry-After, timeouts on connect, headers and body, a body cap that holds
// after decompression, a redirect limit, charset detection (HTTP header,
// BOM, XML declaration, <meta>, statistics) and, for URLs taken from
// content, a dial-time guard against loopback, private, link-local and
// metadata addresses. Nothing it is fed makes it panic or hang.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"newswatch/config"
	"newswatch/news"
)

// Errors a fetch can be classified by with errors.Is. ErrPrivateNetwork
// names the setting that lifts it, for operators with private sources.
var (
	ErrTooLarge         = errors.New("fetcher: body too large")
	ErrTooManyRedirects = errors.New("fetcher: too many redirects")
	ErrPrivateNetwork   = errors.New("fetcher: address is not public (set fetch.allow_private_networks: true to allow it)")
	ErrNotFeed          = errors.New("fetcher: not a feed")
	ErrParse            = errors.New("fetcher: cannot parse")
	ErrTimeout          = errors.New("fetcher: timed out")
	ErrNoContent        = errors.New("fetcher: no article text found")
)

// StatusError is the error for an HTTP answer that is neither 2xx nor 304.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from Retry-After on 429 and 503, else 0
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Validator is the conditional-GET state of a source, kept between fetches
// by the caller.
type Validator struct {
	ETag, LastModified string
}

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

// Fetcher fetches sources. It is safe for concurrent use; make one per
// process so that the per-host limits hold across all fetches.
type Fetcher struct {
	log       *slog.Logger
	userAgent string
	timeout   time.Duration
	maxBody   int64
	hosts     *hostLimiter
	// feeds fetches config-written URLs: their own host may be private,
	// a redirect elsewhere may not (unless allowed). content fetches URLs
	// found in content, always through the guard (unless allowed).
	feeds, content *http.Client
	now            func() time.Time
}

// New returns a Fetcher for cfg; zero fields take the package defaults
// (a negative HostInterval disables the minimum interval).
func New(cfg config.Fetch, logger *slog.Logger) *Fetcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{
		log:       logger,
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
		maxBody:   cfg.MaxBodyBytes,
		now:       time.Now,
	}
	if f.userAgent == "" {
		f.userAgent = config.DefaultUserAgent
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	if f.maxBody <= 0 {
		f.maxBody = DefaultMaxBodyBytes
	}
	perHost := cfg.PerHost
	if perHost <= 0 {
		perHost = DefaultPerHost
	}
	interval := cfg.HostInterval
	if interval == 0 {
		interval = DefaultHostInterval
	}
	f.hosts = newHostLimiter(perHost, interval)

	if cfg.AllowPrivateNetworks || proxyConfigured() {
		// Through a proxy the dial goes to the proxy, and the guard cannot
		// see where requests end up: the operator's proxy decides.
		if !cfg.AllowPrivateNetworks {
			logger.Info("private-network guard off: requests go through a proxy")
		}
		t := newTransport(f.timeout, perHost, false)
		f.feeds = &http.Client{Transport: t, CheckRedirect: checkRedirect}
		f.content = f.feeds
	} else {
		open, guarded := newTransport(f.timeout, perHost, false), newTransport(f.timeout, perHost, true)
		// Feed requests dial their own (configured) host without the
		// guard, and any other host, i.e. a redirect target, with it.
		open.DialContext = trustedDial(open.DialContext, guarded.DialContext)
		f.feeds = &http.Client{Transport: open, CheckRedirect: checkRedirectGuarded}
		f.content = &http.Client{Transport: guarded, CheckRedirect: checkRedirect}
	}
	return f
}

// proxyConfigured reports whether the environment sends requests through
// a proxy (HTTP_PROXY, HTTPS_PROXY and their lower-case forms).
func proxyConfigured() bool {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

type trustedHostKey struct{}

// trustedDial dials addr without the private-network guard only when it is
// the host the operator configured for this request.
func trustedDial(open, guarded dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, ok := ctx.Value(trustedHostKey{}).(string); ok && strings.EqualFold(h, addr) {
			return open(ctx, network, addr)
		}
		return guarded(ctx, network, addr)
	}
}

// response is a fetched body, decoded to UTF-8 later by the parser that
// knows whether it expects XML or HTML.
type response struct {
	status    int
	header    http.Header
	body      []byte
	url       *url.URL // after redirects
	validator Validator
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
	resp, err := f.get(ctx, f.feeds, src.URL, true, prev, accept)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			return &Result{Status: se.Code, RetryAfter: se.RetryAfter, Validator: prev}, err
		}
		return nil, err
	}
	res := &Result{Status: resp.status, Validator: resp.validator, Bytes: int64(len(resp.body))}
	if resp.status == http.StatusNotModified {
		res.NotModified = true
		return res, nil
	}
	now := f.now().UTC()
	switch src.Type {
	case "page":
		d := decodeHTML(resp.body, resp.header.Get("Content-Type"))
		res.Charset = d.charset
		f.logCharset(src.ID, d)
		res.Articles, err = parsePage(d.body, resp.url, src, now)
	default:
		d := decodeXML(resp.body, resp.header.Get("Content-Type"))
		res.Charset = d.charset
		f.logCharset(src.ID, d)
		res.Hub, res.Self = discoverHub(resp.header, d.body, resp.url)
		res.Articles, err = parseFeed(d.body, resp.url, src.ID, now)
	}
	if err != nil {
		// Keep the old validator: a new one would turn the next fetch of
		// this body into a 304, and the parse error would go unseen.
		res.Validator = prev
		return res, err
	}
	return res, nil
}

// logCharset notes a charset that was guessed rather than declared: the
// first thing to check when a source's text looks wrong.
func (f *Fetcher) logCharset(source string, d decoded) {
	if d.from == "guess" || d.from == "default" {
		f.log.Debug("charset guessed", "source", source, "charset", d.charset)
	}
}

// get performs one polite GET. trusted marks a config-written URL, whose
// own host may be on a private network.
func (f *Fetcher) get(ctx context.Context, client *http.Client, rawURL string, trusted bool, prev Validator, accept string) (*response, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: want http or https", rawURL)
	}
	if trusted {
		ctx = context.WithValue(ctx, trustedHostKey{}, hostPort(u))
	}
	// Waiting for a turn at a busy host is politeness, not slowness: the
	// timeout starts once the turn comes, and only the caller's context
	// bounds the wait.
	release, err := f.hosts.acquire(ctx, strings.ToLower(u.Host))
	if err != nil {
		return nil, fmt.Errorf("waiting for a turn at %s: %w", u.Host, err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept", accept)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		// The caller's error already names the URL; *url.Error would
		// name it a second time ("fetch x URL: Get "URL": ...").
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			err = ue.Err
		}
		return nil, f.classify(ctx, err)
	}
	defer resp.Body.Close()

	out := &response{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL}
	out.validator = Validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		// A 304 may omit the validators; the old ones still hold.
		if out.validator.ETag == "" {
			out.validator.ETag = prev.ETag
		}
		if out.validator.LastModified == "" {
			out.validator.LastModified = prev.LastModified
		}
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		se := &StatusError{Code: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), f.now())
		}
		return nil, se
	}
	out.body, err = readBody(resp, f.maxBody)
	if err != nil {
		return nil, f.classify(ctx, err)
	}
	return out, nil
}

// classify turns transport errors into the package's sentinel errors where
// one fits, keeping the original text.
func (f *Fetcher) classify(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, ErrPrivateNetwork), errors.Is(err, ErrTooManyRedirects), errors.Is(err, ErrTooLarge):
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("%w after %s: %w", ErrTimeout, f.timeout, err)
	}
	return err
}

// hostPort is u's host with its port made explicit, as a dialer sees it.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
