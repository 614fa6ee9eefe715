package fetcher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	f := testFetcher(t, nil)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	res, err := f.Fetch(context.Background(), feedSource(srv.URL), Validator{})
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
	if len(res.Articles) != 1 {
		t.Fatalf("%d articles", len(res.Articles))
	}
	cats := res.Articles[0].Categories
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
