package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"newswatch/config"
	"newswatch/fetcher/charset"
	"newswatch/internal/fixture"
	"newswatch/internal/htmltext"
	"newswatch/news"
)

// TestReadabilityFixtures extracts the main text of the 18 Mozilla
// Readability test pages through FullText and scores it against the
// expected article: word-level F1 (recall: expected words found;
// precision: extracted words expected), averaged over pages. The score
// is reported in docs/fetcher.md.
func TestReadabilityFixtures(t *testing.T) {
	dir := fixture.Path(t, "pages", "readability")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := pages[strings.Trim(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write(b)
	}))
	defer srv.Close()
	f := testFetcher(t, func(c *config.Fetch) { c.AllowPrivateNetworks = true })

	var sumF1, sumP, sumR, sumBase float64
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		src, err1 := os.ReadFile(filepath.Join(dir, e.Name(), "source.html"))
		exp, err2 := os.ReadFile(filepath.Join(dir, e.Name(), "expected.html"))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", e.Name(), err1, err2)
		}
		pages[e.Name()] = src
		a := &news.Article{URL: srv.URL + "/" + e.Name()}
		if err := f.FullText(context.Background(), a); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		p, r := overlap(words(a.Content), words(htmltext.Text(string(exp))))
		f1 := 0.0
		if p+r > 0 {
			f1 = 2 * p * r / (p + r)
		}
		// Baseline: all the text of the page, as if nothing were extracted.
		bp, br := overlap(words(htmltext.Text(string(charset.DecodeHTML(src, "text/html").Body))), words(htmltext.Text(string(exp))))
		baseF1 := 0.0
		if bp+br > 0 {
			baseF1 = 2 * bp * br / (bp + br)
		}
		sumBase += baseF1
		t.Logf("%-16s precision %.3f recall %.3f F1 %.3f (whole page F1 %.3f)", e.Name(), p, r, f1, baseF1)
		sumF1, sumP, sumR = sumF1+f1, sumP+p, sumR+r
		n++
	}
	if n < 18 {
		t.Errorf("scored %d pages, want 18", n)
	}
	if n == 0 {
		return
	}
	mean := sumF1 / float64(n)
	t.Logf("mean over %d pages: precision %.3f recall %.3f F1 %.3f (whole page F1 %.3f)", n, sumP/float64(n), sumR/float64(n), mean, sumBase/float64(n))
	if mean < 0.90 {
		t.Errorf("mean F1 %.3f, want >= 0.90", mean)
	}
}

// words splits text into lower-case words; CJK text, which has no spaces,
// is split into single characters.
func words(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
			flush()
			out = append(out, string(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			cur.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return out
}

// overlap is the multiset precision and recall of got against want.
func overlap(got, want []string) (precision, recall float64) {
	if len(got) == 0 || len(want) == 0 {
		return 0, 0
	}
	count := map[string]int{}
	for _, w := range want {
		count[w]++
	}
	common := 0
	for _, g := range got {
		if count[g] > 0 {
			count[g]--
			common++
		}
	}
	return float64(common) / float64(len(got)), float64(common) / float64(len(want))
}

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", ErrPrivateNetwork), true},
		{ErrNoContent, true},
		{&StatusError{Code: 404}, true},
		{&StatusError{Code: 429}, false},
		{&StatusError{Code: 408}, false},
		{&StatusError{Code: 503}, false},
		{fmt.Errorf("%w after 30s", ErrTimeout), false},
		{errors.New("connection reset by peer"), false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
