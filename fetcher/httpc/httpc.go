// Package httpc is the fetcher's HTTP client: polite (a per-host
// concurrency limit and minimum interval between requests, conditional
// GET, a clear User-Agent, Retry-After) and defensive (timeouts on
// connect, headers and body, a body cap that holds after decompression, a
// redirect limit and, for URLs taken from content, a dial-time guard
// against loopback, private, link-local and metadata addresses). It also
// computes the back-off of a failing source.
package httpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"newswatch/internal/retryafter"
)

// Errors a request can be classified by with errors.Is. ErrPrivateNetwork
// names the setting that lifts it, for operators with private sources.
var (
	ErrTooLarge         = errors.New("fetcher: body too large")
	ErrTooManyRedirects = errors.New("fetcher: too many redirects")
	ErrPrivateNetwork   = errors.New("fetcher: address is not public (set fetch.allow_private_networks: true to allow it)")
	ErrTimeout          = errors.New("fetcher: timed out")
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

// maxRetryAfter bounds the wait a server may ask for, so that a hostile
// one cannot park a source forever.
const maxRetryAfter = 24 * time.Hour

// Validator is the conditional-GET state of a URL, kept between requests
// by the caller.
type Validator struct {
	ETag, LastModified string
}

// Response is a fetched body, not yet decoded: the parser that knows
// whether it expects XML or HTML decodes it.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte   // after gzip or deflate, at most the body cap
	URL       *url.URL // after redirects
	Validator Validator
}

// Options configure a Client; every field must be set (the fetcher fills
// in its defaults). A negative HostInterval disables the minimum interval.
type Options struct {
	UserAgent            string
	Timeout              time.Duration
	MaxBody              int64
	PerHost              int
	HostInterval         time.Duration
	AllowPrivateNetworks bool
	Logger               *slog.Logger
}

// Client performs polite, guarded GETs. It is safe for concurrent use;
// make one per process so that the per-host limits hold across all
// requests.
type Client struct {
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

// New returns a Client for o.
func New(o Options) *Client {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		userAgent: o.UserAgent,
		timeout:   o.Timeout,
		maxBody:   o.MaxBody,
		hosts:     newHostLimiter(o.PerHost, o.HostInterval),
		now:       time.Now,
	}
	if o.AllowPrivateNetworks || proxyConfigured() {
		// Through a proxy the dial goes to the proxy, and the guard cannot
		// see where requests end up: the operator's proxy decides.
		if !o.AllowPrivateNetworks {
			logger.Info("private-network guard off: requests go through a proxy")
		}
		t := newTransport(c.timeout, o.PerHost, false)
		c.feeds = &http.Client{Transport: t, CheckRedirect: checkRedirect}
		c.content = c.feeds
	} else {
		open, guarded := newTransport(c.timeout, o.PerHost, false), newTransport(c.timeout, o.PerHost, true)
		// Feed requests dial their own (configured) host without the
		// guard, and any other host, i.e. a redirect target, with it.
		open.DialContext = trustedDial(open.DialContext, guarded.DialContext)
		c.feeds = &http.Client{Transport: open, CheckRedirect: checkRedirectGuarded}
		c.content = &http.Client{Transport: guarded, CheckRedirect: checkRedirect}
	}
	return c
}

// Timeout is the limit on one request, once its turn at the host came.
func (c *Client) Timeout() time.Duration { return c.timeout }

// MaxBody is the body cap in bytes.
func (c *Client) MaxBody() int64 { return c.maxBody }

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

// Get performs one polite GET. trusted marks a config-written URL, whose
// own host may be on a private network (a redirect to another host is
// still guarded); any other URL goes through the guard. prev is sent as
// If-None-Match / If-Modified-Since. A 304 is a Response; any other answer
// outside 2xx is a *StatusError.
func (c *Client) Get(ctx context.Context, rawURL string, trusted bool, prev Validator, accept string) (*Response, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: want http or https", rawURL)
	}
	client := c.content
	if trusted {
		client = c.feeds
		ctx = context.WithValue(ctx, trustedHostKey{}, hostPort(u))
	}
	// Waiting for a turn at a busy host is politeness, not slowness: the
	// timeout starts once the turn comes, and only the caller's context
	// bounds the wait.
	release, err := c.hosts.acquire(ctx, strings.ToLower(u.Host))
	if err != nil {
		return nil, fmt.Errorf("waiting for a turn at %s: %w", u.Host, err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
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
		return nil, c.classify(ctx, err)
	}
	defer resp.Body.Close()

	out := &Response{Status: resp.StatusCode, Header: resp.Header, URL: resp.Request.URL}
	out.Validator = Validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		// A 304 may omit the validators; the old ones still hold.
		if out.Validator.ETag == "" {
			out.Validator.ETag = prev.ETag
		}
		if out.Validator.LastModified == "" {
			out.Validator.LastModified = prev.LastModified
		}
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		se := &StatusError{Code: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			se.RetryAfter, _ = retryafter.Parse(resp.Header.Get("Retry-After"), c.now(), maxRetryAfter)
		}
		return nil, se
	}
	out.Body, err = readBody(resp, c.maxBody)
	if err != nil {
		return nil, c.classify(ctx, err)
	}
	return out, nil
}

// PostForm posts form to a URL found in content (through the guard, with
// the client's timeout and User-Agent) and returns the answer's status
// and the start of its body.
func (c *Client) PostForm(ctx context.Context, rawURL string, form url.Values) (status int, msg []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.content.Do(req)
	if err != nil {
		return 0, nil, c.classify(ctx, err)
	}
	defer resp.Body.Close()
	msg, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, msg, nil
}

// classify turns transport errors into the package's sentinel errors where
// one fits, keeping the original text.
func (c *Client) classify(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, ErrPrivateNetwork), errors.Is(err, ErrTooManyRedirects), errors.Is(err, ErrTooLarge):
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("%w after %s: %w", ErrTimeout, c.timeout, err)
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
