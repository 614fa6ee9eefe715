package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse: no config, however broken, panics the loader, and every
// problem it reports is a Problem with text.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../config.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("sources:\n  - id: a\n    url: https://e.org/\n    intervall: 5m\n"))
	f.Add([]byte("smtp: {password: ${NOPE}}\nsubscribers: [{id: x, type: email, digest: '0 8 * * *', quiet_hours: 22:00-07:00}]\n"))
	f.Add([]byte("nats: [\n"))
	f.Add([]byte("subscribers: []\n  - id: desk\n    secret: $DESK_SECRET\n"))
	f.Add([]byte("topics:\n  - id: t\n    query: >\n      a AND\n        \"b \\u4e2d\"\n  - id: u\n    query: \"x\\\n      y\"\n"))
	f.Add([]byte("a: {b: [c, 'd''e\n\tf: \"g\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, func(string) (string, bool) { return "v", true })
		if c == nil {
			t.Fatal("Parse returned no config")
		}
		lines := strings.Count(string(data), "\n") + 1
		if ps, ok := err.(Problems); ok {
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("a problem without a message: %+v", p)
				}
				if p.Line > lines {
					t.Fatalf("problem on line %d of %d: %+v", p.Line, lines, p)
				}
			}
		}
		// Every offset of every query maps to a place in the file.
		for i, tp := range c.Topics {
			for _, off := range []int{0, len(tp.Query) / 2, len(tp.Query)} {
				if line, col, _, ok := c.ValuePosition(off, "topics", i, "query"); ok && (line < 1 || line > lines || col < 1) {
					t.Fatalf("query %d offset %d: line %d column %d of %d lines", i, off, line, col, lines)
				}
			}
		}
	})
}

// FuzzParseOPML: hostile OPML never panics, and every source it yields has
// a valid id and an http(s) URL.
func FuzzParseOPML(f *testing.F) {
	if data, err := os.ReadFile("testdata/feeds.opml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`<opml><body><outline text="新华网" xmlUrl="http://x.cn/rss"/></body></opml>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		srcs, err := parseOPML(strings.NewReader(string(data)), nil)
		if err != nil {
			return
		}
		for _, s := range srcs {
			if !idPattern.MatchString(s.ID) || !(strings.HasPrefix(s.URL, "http://") || strings.HasPrefix(s.URL, "https://")) {
				t.Fatalf("bad source from OPML: %+v", s)
			}
		}
	})
}
