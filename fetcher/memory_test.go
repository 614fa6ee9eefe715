package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"newswatch/config"
)

// craftedFeed builds an RSS document just under size bytes whose item
// holds unit repeated, then closed by tail (the end tags unit left open).
func craftedFeed(size int, unit, tail string, nested bool) []byte {
	head := `<?xml version="1.0"?><rss version="2.0" xmlns:x="urn:x"><channel><title>t</title><item><title>x</title><link>https://news.example/x</link>`
	foot := `</item></channel></rss>`
	var b bytes.Buffer
	b.WriteString(head)
	n := (size - len(head) - len(foot)) / (len(unit) + len(tail))
	if !nested {
		n = (size - len(head) - len(foot)) / len(unit)
	}
	for range n {
		b.WriteString(unit)
	}
	if nested {
		for range n {
			b.WriteString(tail)
		}
	}
	b.WriteString(foot)
	return b.Bytes()
}

// hostileFeeds are bodies under the default max_body_bytes that make an
// XML feed parser build far more than it reads, by shape.
var hostileFeeds = map[string]func(size int) []byte{
	// The attack: a '>' in a quoted attribute hid every open tag
	// from the old depth count.
	"quoted-gt": func(size int) []byte { return craftedFeed(size, `<x:a b="/>">`, `</x:a>`, true) },
	// Flat extension elements: each becomes a map-holding Extension.
	"flat-extensions": func(size int) []byte { return craftedFeed(size, `<x:a/>`, "", false) },
	// Extension elements with one attribute each.
	"attr-extensions": func(size int) []byte { return craftedFeed(size, `<x:a b=""/>`, "", false) },
	// One extension element with a million attributes.
	"attributes": func(size int) []byte {
		var b bytes.Buffer
		b.WriteString(`<x:a`)
		for i := 0; b.Len() < size-400; i++ {
			fmt.Fprintf(&b, ` b%d=""`, i)
		}
		b.WriteString(`/>`)
		return craftedFeed(size, b.String(), "", false)
	},
	// Empty items, each a struct in gofeed's RSS and universal feeds.
	"items": func(size int) []byte {
		return craftedFeed(size, `</item><item>`, "", false)
	},
	// Items of ten extension elements each: accepted, parsed a window
	// of items at a time.
	"extension-items": func(size int) []byte {
		return craftedFeed(size, `</item><item>`+strings.Repeat(`<x:a b=""/>`, 10), "", false)
	},
	// JSON Feed: empty items, and one item with a million tags.
	"json-items": func(size int) []byte {
		head := `{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","url":"https://news.example/1"}`
		return []byte(head + strings.Repeat(`,{}`, (size-len(head)-2)/3) + `]}`)
	},
	"json-tags": func(size int) []byte {
		head := `{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","url":"https://news.example/1","tags":["a"`
		return []byte(head + strings.Repeat(`,"a"`, (size-len(head)-4)/4) + `]}]}`)
	},
	// Items as large as one may be, each parsed on its own.
	"large-items": func(size int) []byte {
		return craftedFeed(size, `</item><item>`+strings.Repeat(`<x:a b="" c=""/>`, maxPartElements-2), "", false)
	},
	// Nesting just under the depth limit, over and over.
	"deep-blocks": func(size int) []byte {
		block := strings.Repeat(`<x:a>`, 1000) + strings.Repeat(`</x:a>`, 1000)
		return craftedFeed(size, block, "", false)
	},
}

const rssChildEnv = "NEWSWATCH_TEST_RSS_CHILD"

// TestHostileFeedsPeakRSS fetches four hostile feeds of each shape at once
// in a child process and checks the child's peak resident set: whatever a
// body under max_body_bytes holds, four fetches together stay under
// 300 MB.
func TestHostileFeedsPeakRSS(t *testing.T) {
	if shape := os.Getenv(rssChildEnv); shape != "" {
		rssChild(t, shape)
		return
	}
	if raceEnabled || testing.Short() {
		t.Skip("peak RSS is measured without -race and -short: go test ./fetcher/ -run TestHostileFeedsPeakRSS")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status (Linux) to read the peak RSS")
	}
	for shape := range hostileFeeds {
		t.Run(shape, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileFeedsPeakRSS$", "-test.v")
			cmd.Env = append(os.Environ(), rssChildEnv+"="+shape)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var kb int
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "peak-rss-kb: "); ok {
					kb, _ = strconv.Atoi(v)
				}
			}
			if kb == 0 {
				t.Fatalf("no peak RSS in child output:\n%s", out)
			}
			t.Logf("%s: peak RSS %d MB\n%s", shape, kb>>10, out)
			if kb > 300<<10 {
				t.Errorf("peak RSS %d MB, want under 300 MB", kb>>10)
			}
		})
	}
}

func rssChild(t *testing.T, shape string) {
	mk := hostileFeeds[shape]
	if mk == nil {
		t.Fatalf("unknown shape %q", shape)
	}
	body := mk(DefaultMaxBodyBytes - 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(body)
	}))
	defer srv.Close()
	f := testFetcher(t, func(c *config.Fetch) { c.Timeout = 2 * time.Minute })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			res, err := f.Fetch(context.Background(), feedSource(fmt.Sprintf("%s/%d", srv.URL, i)), Validator{})
			n := 0
			if res != nil {
				n = len(res.Articles)
			}
			t.Logf("fetch %d: %d bytes, %d articles, err %v", i, len(body), n, err)
		})
	}
	wg.Wait()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("peak-rss-kb: %s\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
}
