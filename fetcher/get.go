package fetcher

import (
	"context"
	"fmt"
)

// Document is a body fetched by Get, not yet decoded or parsed.
type Document struct {
	Body        []byte // after gzip or deflate, at most the body cap
	ContentType string
	URL         string // after redirects
}

// Get fetches one URL the operator gave (on the command line, like a
// configured source: its own host may be on a private network, a redirect
// elsewhere is guarded), with the fetcher's timeout, politeness, gzip and
// body cap; an answer other than 2xx is a *StatusError.
func (f *Fetcher) Get(ctx context.Context, rawURL string) (*Document, error) {
	const accept = "application/rss+xml, application/atom+xml, application/feed+json, text/html, application/xhtml+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
	resp, err := f.client.Get(ctx, rawURL, true, Validator{}, accept)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	return &Document{Body: resp.Body, ContentType: resp.Header.Get("Content-Type"), URL: resp.URL.String()}, nil
}
