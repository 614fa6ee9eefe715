package feed

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"newswatch/fetcher/charset"
	"newswatch/fetcher/fetchtest"
	"newswatch/internal/fixture"
)

// fragmentedFeed is the gofeed v1.4.2 extension trap: a <dc:subject>
// whose text comes in n pieces (plain text and CDATA alternating).
func fragmentedFeed(n int) string {
	return `<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>
<item><title>trap</title><link>https://news.example/trap</link><dc:subject>` +
		strings.Repeat("a<![CDATA[b]]>", n) + `</dc:subject></item></channel></rss>`
}

// TestFragmentedExtensionText checks that the 600 KB, 40,000-fragment feed
// that costs gofeed v1.4.2 seconds and gigabytes is fetched quickly, in
// little memory, and with its text intact.
func TestFragmentedExtensionText(t *testing.T) {
	body := fragmentedFeed(40000)
	if len(body) < 550_000 {
		t.Fatalf("trap feed is %d bytes", len(body))
	}
	base, _ := url.Parse("https://news.example/feed.xml")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	arts, err := Parse([]byte(body), base, "src", time.Now().UTC())
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("40,000 fragments: %s, %d MB allocated", elapsed, alloc>>20)
	// Unguarded, this allocates about 3.4 GB; linear parsing needs tens of MB.
	if alloc > 200<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
	if elapsed > 3*time.Second {
		t.Errorf("took %s", elapsed)
	}
	if len(arts) != 1 {
		t.Fatalf("%d articles", len(arts))
	}
	cats := arts[0].Categories
	if len(cats) != 1 || len(cats[0]) < 250 || !strings.HasPrefix(cats[0], "ababab") {
		t.Errorf("subject not kept: %d categories, first %.40q", len(cats), cats)
	}
}

func TestXMLShape(t *testing.T) {
	tests := []struct {
		name            string
		in              string
		frags, minDepth int
	}{
		{"plain", `<a><b>x</b><c/></a>`, 0, 2},
		{"one cdata", `<a><![CDATA[x<y]]></a>`, 1, 1},
		{"split", `<a>` + strings.Repeat("x<![CDATA[y]]><!-- c -->", 10) + `</a>`, 20, 1},
		{"reset by tags", `<a><![CDATA[x]]><b/><![CDATA[x]]></a>`, 1, 1},
		{"deep", strings.Repeat("<a>", 50), 0, 50},
		{"unterminated", `<a><![CDATA[x`, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frags, depth := xmlShape([]byte(tt.in))
			if frags != tt.frags || depth < tt.minDepth {
				t.Errorf("xmlShape = %d, %d; want %d, >= %d", frags, depth, tt.frags, tt.minDepth)
			}
		})
	}
}

func TestGuardXMLKeepsText(t *testing.T) {
	in := `<rss><channel><item><description>` + strings.Repeat(`<![CDATA[<p>a & b</p>]]><!-- x -->`, maxTextFragments+1) +
		`</description></item></channel></rss>`
	out, err := guardXML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if frags, _ := xmlShape(out); frags > 1 {
		t.Errorf("still %d fragments", frags)
	}
	want := strings.Repeat("&lt;p&gt;a &amp; b&lt;/p&gt;", maxTextFragments+1)
	if !strings.Contains(string(out), want) {
		t.Errorf("text changed: %.200s", out)
	}
	small := []byte(`<a><![CDATA[x]]></a>`)
	if out, _ := guardXML(small); string(out) != string(small) {
		t.Errorf("small input rewritten: %s", out)
	}
}

func TestScanXML(t *testing.T) {
	tests := []struct {
		name                   string
		in                     string
		depth, elements, attrs int
		items                  int
	}{
		{"plain", `<a><b>x</b><c/></a>`, 2, 3, 0, 0},
		{"quoted gt", `<a b="/>"><a b='>'>`, 2, 2, 2, 0},
		{"quoted slash-gt closes", `<a b="x"/><a b="/>"/>`, 1, 2, 2, 0},
		{"comment with tags", `<a><!-- <b><c> --></a>`, 1, 1, 0, 0},
		{"comment with gt", `<a><!-- > --><b/></a>`, 2, 2, 0, 0},
		{"cdata with tags", `<a><![CDATA[<b><c>]]></a>`, 1, 1, 0, 0},
		{"pi with gt", `<a><?pi x=">"?><b/></a>`, 2, 2, 0, 0},
		{"doctype subset", `<!DOCTYPE a [<!ENTITY e "<b>"> <!-- > -->]><a/>`, 1, 1, 0, 0},
		{"doctype quoted", `<!DOCTYPE a SYSTEM "x>y"><a><b/></a>`, 2, 2, 0, 0},
		{"unquoted and bare attrs", `<a b=1 c d='2' e = "3">`, 1, 1, 4, 0},
		{"rss items", `<rss><channel><title>t</title><item><title>a</title></item><item/></channel></rss>`, 4, 6, 0, 2},
		{"atom entries", `<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id></entry><entry><id>2</id></entry></feed>`, 3, 5, 1, 2},
		{"nested item not counted", `<rss><channel><item><x:item/></item></channel></rss>`, 4, 4, 0, 1},
		{"unclosed item", `<rss><channel><item><title>a`, 4, 4, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := scanXML([]byte(tt.in))
			if st.depth != tt.depth || st.elements != tt.elements || st.attrs != tt.attrs || len(st.items) != tt.items {
				t.Errorf("scanXML = depth %d, %d elements, %d attrs, %d items; want %d, %d, %d, %d",
					st.depth, st.elements, st.attrs, len(st.items), tt.depth, tt.elements, tt.attrs, tt.items)
			}
		})
	}
}

// TestQuotedAttributeDepth is the attack: a '>' inside a quoted
// attribute value hid every open tag from the old depth count.
func TestQuotedAttributeDepth(t *testing.T) {
	body := `<rss version="2.0" xmlns:x="urn:x"><channel><item>` + strings.Repeat(`<x:a b="/>">`, maxDepth+1)
	_, err := guardXML([]byte(body))
	if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("guardXML = %v, want a nesting error", err)
	}
}

// TestFeedBounds checks the bounds on what gofeed is given: a feed over
// them is refused with ErrParse, one under them split into windows keeps
// every item.
func TestFeedBounds(t *testing.T) {
	base, _ := url.Parse("https://news.example/feed.xml")
	items := func(n int, extra string) string {
		var b strings.Builder
		b.WriteString(`<rss version="2.0" xmlns:x="urn:x" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title><link>https://site.example/</link><language>de</language>`)
		for i := range n {
			fmt.Fprintf(&b, `<item><title>n%d</title><link>/a/%d</link><dc:subject>s%d</dc:subject>%s</item>`, i, i, i, extra)
		}
		b.WriteString(`</channel></rss>`)
		return b.String()
	}
	tests := []struct {
		name, body, err string
		want            int
	}{
		{"windows", items(3*windowElements, ""), "", 3 * windowElements},
		{"item too large", items(2, strings.Repeat(`<x:a/>`, MaxPartElements)), "item of more than", 0},
		{"outside items", `<rss xmlns:x="urn:x"><channel>` + strings.Repeat(`<x:a/>`, MaxPartElements+1) + `<item><link>/a</link></item>` + strings.Repeat(`<item/>`, windowElements) + `</channel></rss>`, "outside its items", 0},
		{"attributes", `<rss xmlns:x="urn:x"><channel><item><x:a` + strings.Repeat(` b=""`, maxPartAttrs+windowAttrs) + `/></item></channel></rss>`, "attributes", 0},
		{"flat extensions", `<rss xmlns:x="urn:x"><channel><item>` + strings.Repeat(`<x:a/>`, 100_000) + `</item></channel></rss>`, "item of more than", 0},
		{"json objects", `{"version":"https://jsonfeed.org/version/1.1","items":[` + strings.Repeat(`{},`, maxJSONObjects) + `{}]}`, "JSON feed has more than", 0},
		{"json values", `{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","tags":[` + strings.Repeat(`"a",`, maxJSONValues) + `"a"]}]}`, "JSON feed has more than", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts, err := Parse([]byte(tt.body), base, "s", time.Unix(0, 0))
			if tt.err != "" {
				if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrParse with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(arts) != tt.want {
				t.Fatalf("%d articles, want %d", len(arts), tt.want)
			}
			last := arts[len(arts)-1]
			n := tt.want - 1
			if last.Title != fmt.Sprintf("n%d", n) || last.URL != fmt.Sprintf("https://site.example/a/%d", n) ||
				last.Language != "de" || len(last.Categories) != 1 || last.Categories[0] != fmt.Sprintf("s%d", n) {
				t.Errorf("last article %+v", last)
			}
		})
	}
}

// TestFeedWindowsMatchWhole checks that a feed parsed in windows yields
// the same articles as when parsed whole, unstable GUIDs included.
func TestFeedWindowsMatchWhole(t *testing.T) {
	base, _ := url.Parse("https://news.example/feed.xml")
	var b strings.Builder
	b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>`)
	for i := range 3000 {
		// The same GUID for two links: the feed's GUIDs are not used.
		fmt.Fprintf(&b, `<entry><id>g%d</id><title>t%d</title><link href="https://news.example/%d"/><summary>s</summary><updated>2026-01-02T03:04:05Z</updated></entry>`, i%2000, i, i)
	}
	b.WriteString(`</feed>`)
	body := []byte(b.String())
	_, st, err := guardXMLStats(body)
	if err != nil || st.elements <= windowElements {
		t.Fatalf("test feed has %d elements (%v), want more than one window", st.elements, err)
	}
	windowed, err := parseWindows(body, st, base, "s", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := parseWhole(body, base, "s", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 3000 || !reflect.DeepEqual(windowed, whole) {
		t.Fatalf("windowed parse differs: %d vs %d articles; first %+v vs %+v", len(windowed), len(whole), windowed[0], whole[0])
	}
}

// FuzzScanXML compares the scan with encoding/xml where the decoder
// accepts the input: the scan may overcount (it is a guard), never
// undercount depth or elements.
func FuzzScanXML(f *testing.F) {
	for _, s := range []string{`<a b="/>"><c/></a>`, `<a><!-- <b> --><![CDATA[<c>]]><?p >?></a>`, `<!DOCTYPE a [<!ENTITY e ">">]><a x='>' y="'"/>`,
		`<rss><channel><item><title>a</title></item></channel></rss>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st := scanXML(b)
		if st.depth > st.elements || len(st.items) > st.elements || st.attrs > len(b) {
			t.Fatalf("impossible counts %+v", st)
		}
		for _, it := range st.items {
			if it.start < 0 || it.end > len(b) || it.start >= it.end {
				t.Fatalf("bad item span %+v", it)
			}
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		depth, maxD, elems := 0, 0, 0
		for {
			tok, err := d.RawToken()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			switch tok.(type) {
			case xml.StartElement:
				elems++
				depth++
				maxD = max(maxD, depth)
			case xml.EndElement:
				if depth--; depth < 0 {
					return // an end tag without a start: not well-formed
				}
			}
		}
		if depth != 0 {
			return // not well-formed; the decoder proper would refuse it
		}
		if st.depth < maxD || st.elements < elems {
			t.Fatalf("scan: depth %d, %d elements; encoding/xml: depth %d, %d elements", st.depth, st.elements, maxD, elems)
		}
	})
}

// addFixtureSeeds adds a few files of the feedparser suite (if present)
// to a fuzz corpus.
func addFixtureSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join(fixture.Dir(), pattern))
	for i, p := range files {
		if i >= 40 {
			break
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "")
		}
	}
}

func FuzzParseFeed(f *testing.F) {
	f.Add([]byte(fetchtest.RSS), "application/rss+xml")
	f.Add([]byte(fragmentedFeed(300)), "")
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","url":"/a","content_html":"<p>x</p>"}]}`), "application/feed+json")
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id><title type="html">&lt;b&gt;t</title><link href="a"/></entry></feed>`), "")
	addFixtureSeeds(f, "feeds/feedparser/encoding/*.xml")
	addFixtureSeeds(f, "feeds/feedparser/illformed/*.xml")
	base, _ := url.Parse("https://news.example/feed.xml")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		d := charset.DecodeXML(body, contentType)
		if !utf8.Valid(d.Body) {
			t.Fatalf("decoded body is not UTF-8 (%s from %s)", d.Charset, d.From)
		}
		arts, err := Parse(d.Body, base, "fuzz", time.Unix(0, 0))
		var pe *PanicError
		if errors.As(err, &pe) {
			t.Fatalf("parser panicked: %v\n%s", pe.Value, pe.Stack)
		}
		if err != nil {
			return
		}
		for _, a := range arts {
			if a.ID == "" || !utf8.ValidString(a.Title) || !utf8.ValidString(a.Summary) || !utf8.ValidString(a.Content) {
				t.Fatalf("bad article %+v", a)
			}
			if a.URL != "" && !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
				t.Fatalf("non-http link %q", a.URL)
			}
		}
	})
}

func FuzzGuardXML(f *testing.F) {
	f.Add([]byte(fragmentedFeed(maxTextFragments + 2)))
	f.Add([]byte(`<a><![CDATA[x]]><!-- c --><?pi?>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := guardXML(b)
		if err != nil {
			return
		}
		if frags, _ := xmlShape(out); frags > maxTextFragments {
			t.Fatalf("still %d fragments after guard", frags)
		}
	})
}

// TestParseWithoutTextThenFillText checks, over the feedparser suite,
// that the text left out by ParseWithoutText is exactly what FillText
// puts back: the fetch stage makes it only for items not seen before.
func TestParseWithoutTextThenFillText(t *testing.T) {
	dir := fixture.Path(t, "feeds", "feedparser")
	base, _ := url.Parse("https://news.example/feed.xml")
	now := time.Unix(0, 0)
	var files, deferred int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		body = charset.DecodeXML(body, "").Body
		want, werr := Parse(body, base, "s", now)
		got, gerr := ParseWithoutText(body, base, "s", now)
		if (werr == nil) != (gerr == nil) || len(got) != len(want) {
			t.Errorf("%s: Parse: %d articles, %v; ParseWithoutText: %d articles, %v", p, len(want), werr, len(got), gerr)
			return nil
		}
		files++
		for i := range got {
			if got[i].Summary == "" && want[i].Summary != "" || got[i].Content == "" && want[i].Content != "" {
				deferred++
			}
			FillText(&got[i])
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ParseWithoutText then FillText differs from Parse:\n got %+v\nwant %+v", p, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 1000 || deferred < 20 {
		t.Fatalf("compared %d files and %d articles whose text was left out; the suite gives over 1,000 and 20", files, deferred)
	}
}
