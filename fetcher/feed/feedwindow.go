package feed

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mmcdole/gofeed"

	"newswatch/news"
)

// Bounds on what gofeed is given at once. gofeed builds every element of
// a document into memory (an extension element costs about 1 KB, an item
// about 700 bytes), so a 10 MB body of small elements would cost a
// gigabyte. A feed larger than one window is parsed a run of items at a
// time, and only the articles are kept.
const (
	// windowElements and windowAttrs bound one gofeed parse of a whole
	// feed or of a run of items.
	windowElements = 4 << 10
	windowAttrs    = 16 << 10
	// MaxPartElements and maxPartAttrs bound what is parsed at once when
	// it cannot be split: one item, or a feed's elements outside its items.
	MaxPartElements = 8 << 10
	maxPartAttrs    = 32 << 10
	// maxItems bounds the articles one feed yields (about 300 bytes
	// each, with their text).
	maxItems = 150_000
)

// parseWindows parses a large XML feed in runs of items: the feed's own
// elements (everything but its items) once, then each run of items inside
// a copy of their ancestors' start and end tags.
func parseWindows(body []byte, st xmlStats, base *url.URL, sourceID string, now time.Time) ([]news.Article, error) {
	if len(st.items) > maxItems {
		return nil, fmt.Errorf("%w: feed has more than %d items", ErrParse, maxItems)
	}
	metaElems, metaAttrs := st.elements, st.attrs
	for _, it := range st.items {
		if it.elements > MaxPartElements || it.attrs > maxPartAttrs {
			return nil, fmt.Errorf("%w: feed has an item of more than %d elements or %d attributes", ErrParse, MaxPartElements, maxPartAttrs)
		}
		metaElems -= it.elements
		metaAttrs -= it.attrs
	}
	if metaElems > MaxPartElements || metaAttrs > maxPartAttrs {
		return nil, fmt.Errorf("%w: feed has more than %d elements or %d attributes outside its items", ErrParse, MaxPartElements, maxPartAttrs)
	}

	// The feed without its items.
	meta := make([]byte, 0, len(body)-(st.items[len(st.items)-1].end-st.items[0].start))
	prev := 0
	for _, it := range st.items {
		meta = append(meta, body[prev:it.start]...)
		prev = it.end
	}
	meta = append(meta, body[prev:]...)
	feed, err := newFeedParser().Parse(bytes.NewReader(meta))
	if err != nil {
		if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
			return nil, notFeedError(body, base)
		}
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	base, lang := feedBase(feed, base), feedLanguage(feed)
	meta, feed = nil, nil

	var open, closing []byte
	for _, t := range st.open {
		open = append(open, body[t.start:t.end]...)
	}
	for k := len(st.open) - 1; k >= 0; k-- {
		closing = append(append(append(closing, "</"...), st.open[k].name(body)...), '>')
	}

	var arts []news.Article // not sized by the item count: items without an id yield nothing
	guids := make(map[string]string)
	stable := true
	doc := make([]byte, 0, len(open)+len(closing))
	for first := 0; first < len(st.items); {
		last, elems, attrs := first, 0, 0
		for last < len(st.items) && (last == first ||
			elems+st.items[last].elements <= windowElements && attrs+st.items[last].attrs <= windowAttrs) {
			elems += st.items[last].elements
			attrs += st.items[last].attrs
			last++
		}
		doc = append(append(append(doc[:0], open...), body[st.items[first].start:st.items[last-1].end]...), closing...)
		win, err := newFeedParser().Parse(bytes.NewReader(doc))
		if err != nil {
			return nil, fmt.Errorf("%w: items %d to %d: %v", ErrParse, first+1, last, err)
		}
		stable = addGUIDs(guids, win.Items) && stable
		for _, it := range win.Items {
			if it == nil {
				continue
			}
			if a, ok := itemArticle(it, base, true, sourceID, now); ok {
				a.Language = lang
				arts = append(arts, a)
			}
		}
		first = last
	}
	if !stable {
		// A GUID named two links: identify every item without GUIDs, as
		// parseWhole does.
		kept := arts[:0]
		for _, a := range arts {
			if setArticleID(&a, false, sourceID) {
				kept = append(kept, a)
			}
		}
		arts = kept
	}
	return arts, nil
}

// isJSON reports whether a body is JSON (a JSON Feed) rather than XML.
func isJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// Bounds on a JSON Feed, which gofeed decodes whole: an item costs it
// about 2 KB and any other value some 80 bytes, so that 10 MB of "{}," would
// cost gigabytes.
const (
	maxJSONObjects = 16 << 10
	maxJSONValues  = 256 << 10
)

// checkJSONFeed refuses a JSON body with more objects or values than
// gofeed may build.
func checkJSONFeed(b []byte) error {
	objects, values := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			values++
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{':
			objects++
			values++
		case '[', ',':
			values++
		}
	}
	if objects > maxJSONObjects || values > maxJSONValues {
		return fmt.Errorf("%w: JSON feed has more than %d objects or %d values", ErrParse, maxJSONObjects, maxJSONValues)
	}
	return nil
}
