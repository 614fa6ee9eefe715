package config

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/unicode/norm"
)

// maxOPMLBytes bounds the OPML file read for sources_opml.
const maxOPMLBytes = 16 << 20

// opmlOutline is an OPML outline; feeds carry xmlUrl, folders nest.
type opmlOutline struct {
	Text     string        `xml:"text,attr"`
	Title    string        `xml:"title,attr"`
	XMLURL   string        `xml:"xmlUrl,attr"`
	Outlines []opmlOutline `xml:"outline"`
}

type opmlDoc struct {
	XMLName xml.Name      `xml:"opml"`
	Body    []opmlOutline `xml:"body>outline"`
}

// importOPML appends the feeds of an OPML file (the export format of feed
// readers) to the sources: every outline with an http(s) xmlUrl, nested
// folders included. Ids derive from the titles ("BBC News - World" becomes
// "bbc-news-world", a title without Latin letters gives the host), made
// unique with a numeric suffix; a feed whose URL is already a source is
// skipped.
func (c *Config) importOPML(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	srcs, err := parseOPML(f, c.Sources)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.Sources = append(c.Sources, srcs...)
	return nil
}

func parseOPML(r io.Reader, existing []Source) ([]Source, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxOPMLBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxOPMLBytes {
		return nil, fmt.Errorf("OPML larger than %d bytes", maxOPMLBytes)
	}
	var doc opmlDoc
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	dec.Strict = false
	dec.CharsetReader = charset.NewReaderLabel
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not an OPML file: %v", err)
	}
	used := map[string]bool{}
	seenURL := map[string]bool{}
	for _, s := range existing {
		used[s.ID] = true
		seenURL[feedURLKey(s.URL)] = true
	}
	var out []Source
	var walk func([]opmlOutline, int) error
	walk = func(outlines []opmlOutline, depth int) error {
		if depth > 64 {
			return errors.New("OPML outlines nested too deep")
		}
		for _, o := range outlines {
			if u := strings.TrimSpace(o.XMLURL); u != "" {
				pu, err := url.Parse(u)
				key := feedURLKey(u)
				if err == nil && (pu.Scheme == "http" || pu.Scheme == "https") && pu.Host != "" && !seenURL[key] {
					seenURL[key] = true
					id := firstOf(slug(o.Title), slug(o.Text), slug(strings.TrimPrefix(pu.Hostname(), "www.")), "feed")
					id = uniqueID(id, used)
					used[id] = true
					out = append(out, Source{ID: id, Type: "feed", URL: u})
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

// feedURLKey is the form in which two feed URLs are compared: lower-case
// scheme and host, no fragment.
func feedURLKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	return u.String()
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// slug makes a source id ([a-z0-9-]+) from a title: accents dropped,
// other letters and punctuation become hyphens, at most 48 characters;
// "" when nothing is left.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(strings.ToLower(s)) {
		if b.Len() >= 48 {
			break
		}
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
	}
	return strings.Trim(b.String(), "-")
}

func uniqueID(base string, taken map[string]bool) string {
	if !taken[base] {
		return base
	}
	for i := 2; ; i++ {
		if id := base + "-" + strconv.Itoa(i); !taken[id] {
			return id
		}
	}
}
