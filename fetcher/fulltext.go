package fetcher

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"newswatch/fetcher/charset"
	"newswatch/fetcher/extract"
	"newswatch/news"
)

// FullText fetches a.URL and replaces a.Content and a.ContentHTML with the
// main text of the page, found by a readability port (the algorithm of
// Firefox's reader view). The URL comes from content, so it is untrusted:
// it may not reach a loopback, private or link-local address unless
// fetch.allow_private_networks is set. a is left unchanged on error.
func (f *Fetcher) FullText(ctx context.Context, a *news.Article) error {
	if err := f.fullText(ctx, a, false); err != nil {
		return fmt.Errorf("full text %s: %w", a.URL, err)
	}
	return nil
}

// FullTextTrusted is FullText for a link the operator vouched for: one on
// the scheme, host and port of a configured source, whose own host may be
// on a private network as the source's may. A redirect to another host is
// still checked.
func (f *Fetcher) FullTextTrusted(ctx context.Context, a *news.Article) error {
	if err := f.fullText(ctx, a, true); err != nil {
		return fmt.Errorf("full text %s: %w", a.URL, err)
	}
	return nil
}

// Permanent reports whether a full-text error will not go away by itself
// (a refused address, a page without article text, a 4xx other than 408
// and 429), so that retrying it later is pointless.
func Permanent(err error) bool {
	var se *StatusError
	switch {
	case errors.Is(err, ErrPrivateNetwork), errors.Is(err, ErrNoContent), errors.Is(err, ErrTooLarge),
		errors.Is(err, ErrTooManyRedirects):
		return true
	case errors.As(err, &se):
		return se.Code >= 400 && se.Code < 500 && se.Code != 408 && se.Code != 429
	}
	return false
}

func (f *Fetcher) fullText(ctx context.Context, a *news.Article, trusted bool) error {
	resp, err := f.client.Get(ctx, a.URL, trusted, Validator{}, "text/html, application/xhtml+xml;q=0.9, */*;q=0.5")
	if err != nil {
		return err
	}
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if ct != "" && !strings.Contains(ct, "html") && !strings.Contains(ct, "xml") && !strings.HasPrefix(ct, "text/") {
		return fmt.Errorf("%w: page is %s", ErrNoContent, ct)
	}
	d := charset.DecodeHTML(resp.Body, resp.Header.Get("Content-Type"))
	text, htm, err := extract.Extract(d.Body, resp.URL)
	if err != nil {
		return err
	}
	a.Content, a.ContentHTML = text, htm
	return nil
}
