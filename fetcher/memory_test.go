package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"newswatch/fetcher/feed"
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
		return craftedFeed(size, `</item><item>`+strings.Repeat(`<x:a b="" c=""/>`, feed.MaxPartElements-2), "", false)
	},
	// Nesting just under the depth limit, over and over.
	"deep-blocks": func(size int) []byte {
		block := strings.Repeat(`<x:a>`, 1000) + strings.Repeat(`</x:a>`, 1000)
		return craftedFeed(size, block, "", false)
	},
}

// TestHostileFeedsPeakRSS fetches four hostile feeds of each shape at once
// in a child process and checks the child's peak resident set: whatever a
// body under max_body_bytes holds, four fetches together stay under
// 300 MB. The child is a program of its own (internal/rsschild) built
// without -race, so the bound holds its meaning under `go test -race`.
func TestHostileFeedsPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("peak RSS of a child process takes about a minute; run without -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status (Linux) to read the peak RSS")
	}
	child := buildRSSChild(t)
	dir := t.TempDir()
	for shape, mk := range hostileFeeds {
		t.Run(shape, func(t *testing.T) {
			body := filepath.Join(dir, shape)
			if err := os.WriteFile(body, mk(DefaultMaxBodyBytes-1024), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, child, "-body", body, "-fetches", "4").CombinedOutput()
			os.Remove(body)
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

// buildRSSChild builds internal/rsschild with the go command, without
// -race. Without a go command it fails under CI, where the test must run,
// and skips elsewhere.
func buildRSSChild(t *testing.T) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the peak-RSS test builds a child program and needs the go command on PATH: %v", err)
		}
		t.Skipf("SKIPPED: the peak-RSS test needs the go command on PATH to build its child program (%v); under CI this fails", err)
	}
	bin := filepath.Join(t.TempDir(), "rsschild")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, "build", "-o", bin, "./internal/rsschild")
	// Whatever flags the tests run with, the child is built plain: the
	// race detector multiplies memory, and the bound would mean nothing.
	cmd.Env = append(os.Environ(), "GOFLAGS="+withoutRace(os.Getenv("GOFLAGS")))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./internal/rsschild: %v\n%s", err, out)
	}
	return bin
}

// withoutRace drops -race from a GOFLAGS value.
func withoutRace(flags string) string {
	var keep []string
	for _, f := range strings.Fields(flags) {
		if f != "-race" && f != "-race=true" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
