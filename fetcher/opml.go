package fetcher

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"newswatch/config"
)

// maxOPMLBytes bounds an OPML file read by ImportOPML.
const maxOPMLBytes = 16 << 20

type opmlOutline struct {
	Text     string        `xml:"text,attr"`
	Title    string        `xml:"title,attr"`
	Type     string        `xml:"type,attr"`
	XMLURL   string        `xml:"xmlUrl,attr"`
	Outlines []opmlOutline `xml:"outline"`
}

type opmlDoc struct {
	XMLName xml.Name      `xml:"opml"`
	Body    []opmlOutline `xml:"body>outline"`
}

// ImportOPML reads an OPML subscription list (the export format of feed
// readers) and returns a feed source for every outline with an xmlUrl,
// nested folders included. Ids are derived from the titles ("BBC News -
// World" becomes "bbc-news-world"), made unique with a numeric suffix and
// never equal to one in taken (the sources already in the config). URLs
// that are not http(s) and repeated URLs are skipped. Interval is left zero
// for the config's default to apply.
func ImportOPML(r io.Reader, taken map[string]bool) ([]config.Source, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxOPMLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read OPML: %w", err)
	}
	if len(data) > maxOPMLBytes {
		return nil, fmt.Errorf("OPML: %w: more than %d bytes", ErrTooLarge, maxOPMLBytes)
	}
	d := decodeXML(data, "")
	var doc opmlDoc
	dec := xml.NewDecoder(strings.NewReader(string(d.body)))
	dec.Strict = false
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("OPML: %w: %v", ErrParse, err)
	}
	used := make(map[string]bool, len(taken))
	for id := range taken {
		used[id] = true
	}
	seenURL := map[string]bool{}
	var out []config.Source
	var walk func([]opmlOutline, int) error
	walk = func(outlines []opmlOutline, depth int) error {
		if depth > 64 {
			return errors.New("OPML: outlines nested too deep")
		}
		for _, o := range outlines {
			if u := strings.TrimSpace(o.XMLURL); u != "" {
				pu, err := url.Parse(u)
				key := normalizeFeedURL(u)
				if err == nil && (pu.Scheme == "http" || pu.Scheme == "https") && pu.Host != "" && !seenURL[key] {
					seenURL[key] = true
					// Titles in scripts without a-z (新华网) give no slug;
					// the host does.
					id := firstNonEmpty(slug(o.Title), slug(o.Text), slug(strings.TrimPrefix(pu.Hostname(), "www.")), "feed")
					out = append(out, config.Source{ID: uniqueID(id, used), Type: "feed", URL: u})
				}
			}
			if err := walk(o.Outlines, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.Body, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// normalizeFeedURL is the form in which two feed URLs are compared for
// duplicates: lower-case scheme and host, no fragment.
func normalizeFeedURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	return u.String()
}

// slug makes a source id ([a-z0-9-]+) from a title: accents dropped,
// other letters and punctuation become hyphens, at most 48 characters;
// "" when nothing is left.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(strings.ToLower(s)) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case unicode.Is(unicode.Mn, r):
			// combining accent of a decomposed letter: drop it
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= 48 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

func uniqueID(id string, used map[string]bool) string {
	cand := id
	for n := 2; used[cand]; n++ {
		cand = id + "-" + strconv.Itoa(n)
	}
	used[cand] = true
	return cand
}
