package config

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// opmlOutline is an OPML outline; feeds carry xmlUrl, folders nest.
type opmlOutline struct {
	Text     string        `xml:"text,attr"`
	Title    string        `xml:"title,attr"`
	Type     string        `xml:"type,attr"`
	XMLURL   string        `xml:"xmlUrl,attr"`
	HTMLURL  string        `xml:"htmlUrl,attr"`
	Outlines []opmlOutline `xml:"outline"`
}

type opmlDoc struct {
	Body struct {
		Outlines []opmlOutline `xml:"outline"`
	} `xml:"body"`
}

// importOPML appends the feeds of an OPML file to the sources. Ids derive
// from the feeds' titles; a feed whose URL is already a source is skipped.
func (c *Config) importOPML(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var doc opmlDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", filepath.Base(path), err)
	}
	ids := map[string]bool{}
	urls := map[string]bool{}
	for _, s := range c.Sources {
		ids[s.ID] = true
		urls[s.URL] = true
	}
	var walk func([]opmlOutline)
	walk = func(os []opmlOutline) {
		for _, o := range os {
			if u := strings.TrimSpace(o.XMLURL); u != "" && !urls[u] {
				urls[u] = true
				id := uniqueID(slug(firstOf(o.Title, o.Text, hostOf(u))), ids)
				ids[id] = true
				c.Sources = append(c.Sources, Source{ID: id, Type: "feed", URL: u})
			}
			walk(o.Outlines)
		}
	}
	walk(doc.Body.Outlines)
	return nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return "feed"
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return strings.TrimPrefix(u.Hostname(), "www.")
	}
	return "feed"
}

// slug turns a title into an id: lower-case ASCII letters and digits
// joined by '-', accents dropped; a title with none (e.g. Chinese) yields
// "feed".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(strings.ToLower(s)) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			dash = false
		case unicode.Is(unicode.Mn, r):
			// accent of the previous letter
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
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "feed"
	}
	return out
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
