// Package extract finds the main text of an article page with a
// readability port (the algorithm of Firefox's reader view).
package extract

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"

	readability "codeberg.org/readeck/go-readability/v2"

	"newswatch/internal/htmltext"
)

// ErrNoContent is the error for a page without article text.
var ErrNoContent = errors.New("fetcher: no article text found")

// maxElemsToParse bounds readability's work on a huge page.
const maxElemsToParse = 100_000

// Extract finds the main article of a UTF-8 HTML page: its clean text and
// its cleaned-up HTML. pageURL resolves relative links.
func Extract(body []byte, pageURL *url.URL) (text, htm string, err error) {
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
	text = htmltext.Text(htm)
	if text == "" {
		return "", "", ErrNoContent
	}
	return text, htm, nil
}
