package fetcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	readability "codeberg.org/readeck/go-readability/v2"

	"newswatch/news"
)

// maxElemsToParse bounds readability's work on a huge page.
const maxElemsToParse = 100_000

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
	client := f.content
	if trusted {
		client = f.feeds
	}
	resp, err := f.get(ctx, client, a.URL, trusted, Validator{}, "text/html, application/xhtml+xml;q=0.9, */*;q=0.5")
	if err != nil {
		return err
	}
	ct := strings.ToLower(resp.header.Get("Content-Type"))
	if ct != "" && !strings.Contains(ct, "html") && !strings.Contains(ct, "xml") && !strings.HasPrefix(ct, "text/") {
		return fmt.Errorf("%w: page is %s", ErrNoContent, ct)
	}
	d := decodeHTML(resp.body, resp.header.Get("Content-Type"))
	text, htm, err := extract(d.body, resp.url)
	if err != nil {
		return err
	}
	a.Content, a.ContentHTML = text, htm
	return nil
}

// extract finds the main article of an HTML page: its clean text and its
// cleaned-up HTML.
func extract(body []byte, pageURL *url.URL) (text, htm string, err error) {
	defer func() {
		// The port is large and runs on hostile pages; a bug in it must
		// cost one article, not the process.
		if r := recover(); r != nil {
			text, htm, err = "", "", fmt.Errorf("%w: extractor failed: %v", ErrNoContent, r)
		}
	}()
	p := readability.NewParser()
	p.MaxElemsToParse = maxElemsToParse
	art, err := p.Parse(bytes.NewReader(body), pageURL)
	if err != nil {
		if errors.Is(err, ErrNoContent) {
			return "", "", err
		}
		return "", "", fmt.Errorf("%w: %v", ErrNoContent, err)
	}
	if art.Node == nil {
		return "", "", ErrNoContent
	}
	var b bytes.Buffer
	if err := art.RenderHTML(&b); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoContent, err)
	}
	htm = b.String()
	text = htmlToText(htm)
	if text == "" {
		return "", "", ErrNoContent
	}
	return text, htm, nil
}
