package notifier

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"

	"newswatch/internal/fixture"
)

// hostileStrings parses a fixture feed and returns every text it carries,
// raw: a fetcher is supposed to strip HTML, but the email must be safe
// even when one does not.
func hostileStrings(data []byte) (texts []string, link string, ok bool) {
	f, err := gofeed.NewParser().Parse(bytes.NewReader(data))
	if err != nil {
		return nil, "", false
	}
	texts = append(texts, f.Title, f.Description, f.Copyright)
	for _, it := range f.Items {
		texts = append(texts, it.Title, it.Description, it.Content)
		if link == "" {
			link = it.Link
		}
	}
	return texts, link, true
}

// htmlShape lists the elements and attributes of an HTML document, and
// every href value.
func htmlShape(t *testing.T, doc string) (elems, attrs map[string]bool, hrefs []string, text string) {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	elems, attrs = map[string]bool{}, map[string]bool{}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			elems[n.Data] = true
			for _, a := range n.Attr {
				attrs[a.Key] = true
				if a.Key == "href" {
					hrefs = append(hrefs, a.Val)
				}
			}
		case html.TextNode:
			b.WriteString(n.Data)
		case html.CommentNode:
			elems["<!-- comment -->"] = true
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return elems, attrs, hrefs, b.String()
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestEmailEscapesSanitizeFixtures(t *testing.T) {
	// sanitizeDir holds the Universal Feed Parser's HTML-sanitisation cases:
	// scripts, event handlers, javascript: URLs, styles, iframes, comments
	// that hide tags, and other markup a feed can carry.
	sanitizeDir := fixture.Path(t, "feeds", "feedparser", "wellformed", "sanitize")
	files, err := filepath.Glob(filepath.Join(sanitizeDir, "*.xml"))
	if err != nil || len(files) < 700 {
		t.Fatalf("sanitize fixtures: %d files, %v (expected the 745 cases)", len(files), err)
	}
	ts := startSMTP(t, modePlain, "", "")
	e := newTestEmail(t, ts, "none", emailSub())

	// The shape of a benign email: anything beyond it came from a feed.
	ok, _ := e.message(sampleAlert(), nil)
	var buf bytes.Buffer
	ok.WriteTo(&buf)
	base := parseMail(t, buf.Bytes())
	okElems, okAttrs, _, _ := htmlShape(t, base.parts["text/html"])
	okHeaders := map[string]bool{}
	for k := range base.header {
		okHeaders[k] = true
	}

	parsed, sent := 0, 0
	for i, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		texts, link, good := hostileStrings(data)
		if !good {
			continue
		}
		parsed++
		hostile := strings.Join(texts, " ")
		a := sampleAlert()
		a.TopicName = hostile
		a.Article.Title = hostile
		a.Article.Summary = hostile
		a.Article.Source = hostile
		a.Matches[0].Term = hostile
		a.Matches[0].Snippet = "before «" + hostile + "» after " + hostile
		// Every other case gets a hostile link as well.
		if i%2 == 0 {
			a.Article.URL = "javascript:alert(document.cookie)"
		} else if link != "" {
			a.Article.URL = link
		}

		m, err := e.message(a, nil)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(file), err)
		}
		buf.Reset()
		if _, err := m.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		// A sample goes through the real server too.
		if strings.Contains(file, "script") || strings.Contains(file, "crazy") {
			if _, err := e.Notify(context.Background(), a); err != nil {
				t.Fatalf("%s: %v", filepath.Base(file), err)
			}
			got := ts.received()
			raw = got[len(got)-1].data
			sent++
		}

		pm := parseMail(t, raw)
		for k := range pm.header {
			if !okHeaders[k] {
				t.Errorf("%s: header %q injected", filepath.Base(file), k)
			}
		}
		if s := pm.subject(t); strings.ContainsAny(s, "\r\n") {
			t.Errorf("%s: subject spans lines: %q", filepath.Base(file), s)
		}
		elems, attrs, hrefs, _ := htmlShape(t, pm.parts["text/html"])
		for _, el := range keys(elems) {
			if !okElems[el] {
				t.Errorf("%s: element <%s> from feed content reached the HTML part", filepath.Base(file), el)
			}
		}
		for _, at := range keys(attrs) {
			if !okAttrs[at] {
				t.Errorf("%s: attribute %q from feed content reached the HTML part", filepath.Base(file), at)
			}
		}
		for _, h := range hrefs {
			if !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
				t.Errorf("%s: link %q is not http(s)", filepath.Base(file), h)
			}
		}
	}
	if parsed < 700 || sent < 10 {
		t.Fatalf("only %d fixtures parsed, %d sent over SMTP", parsed, sent)
	}
	t.Logf("%d fixtures rendered, %d of them sent over SMTP", parsed, sent)
}

func TestEmailShowsEscapedMarkupAsText(t *testing.T) {
	// Escaping must keep the text readable, not drop it: what the feed
	// wrote shows up literally.
	ts := startSMTP(t, modePlain, "", "")
	e := newTestEmail(t, ts, "none", emailSub())
	a := sampleAlert()
	a.Article.Title = `Cartels & "precursors" <img src=x onerror=alert(1)>`
	m, err := e.message(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m.WriteTo(&buf)
	pm := parseMail(t, buf.Bytes())
	elems, _, _, text := htmlShape(t, pm.parts["text/html"])
	if elems["img"] {
		t.Fatal("img element rendered")
	}
	if !strings.Contains(text, a.Article.Title) {
		t.Fatalf("title not shown literally in HTML text:\n%s", text)
	}
	if !strings.Contains(pm.parts["text/plain"], a.Article.Title) {
		t.Fatalf("title not in text part")
	}
}
