package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMidcut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"http://127.0.0.1:8080/rss.xml", 44, "http://127.0.0.1:8080/rss.xml", false},
		{strings.Repeat("a", 44), 44, strings.Repeat("a", 44), false},
		{"https://feeds.example.org/feeds/regional/north-east-agriculture/0.xml", 44,
			"https://feeds.example.org" + "…" + "-agriculture/0.xml", true},
		{"https://ex.org/" + strings.Repeat("é", 40) + "/ü.xml", 20, "https://ex." + "…" + "éé/ü.xml", true},
		{"abcdef", 2, "abcdef", false}, // too small to cut
	} {
		got, cut := midcut(tc.in, tc.n)
		if got != tc.want || cut != tc.cut {
			t.Errorf("midcut(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.cut)
		}
	}
}

func FuzzMidcut(f *testing.F) {
	f.Add("https://feeds.example.org/feeds/regional/north-east-agriculture/0.xml", 44)
	f.Add("ü", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if !utf8.ValidString(s) || n > 1000 {
			return
		}
		got, cut := midcut(s, n)
		if !cut {
			if got != s {
				t.Fatalf("uncut %q became %q", s, got)
			}
			return
		}
		if c := utf8.RuneCountInString(got); c != n {
			t.Fatalf("midcut(%q, %d) has %d characters: %q", s, n, c, got)
		}
		head, tail, ok := strings.Cut(got, "…")
		if !ok || !strings.HasPrefix(s, head) || !strings.HasSuffix(s, tail) || len(head) == 0 {
			t.Fatalf("midcut(%q, %d) = %q does not keep both ends", s, n, got)
		}
	})
}

func TestCutURLEscapes(t *testing.T) {
	long := `https://ex.org/"><script>x</script>/` + strings.Repeat("p", 40) + "/feed.xml?a=1&b=2"
	got := string(cutURL(long))
	if strings.Contains(got, "<script>") || !strings.Contains(got, `title="https://ex.org/&#34;&gt;&lt;script&gt;`) ||
		!strings.Contains(got, "<summary") || !strings.Contains(got, `<span class="full">`) || !strings.Contains(got, "feed.xml?a=1&amp;b=2</span>") {
		t.Errorf("cutURL = %s", got)
	}
	if got := string(cutURL("http://a/&b")); got != `<span class="url">http://a/&amp;b</span>` {
		t.Errorf("cutURL of a short URL = %s", got)
	}
}

func TestTroubledSubscribers(t *testing.T) {
	subs := []Subscriber{
		{ID: "fine", Running: true, LastResult: "ok", Backlog: 3},
		{ID: "unknown", Backlog: -1},
		{ID: "idle", Running: true},
		{ID: "off", Running: true, LastResult: "gone", Disabled: true},
		{ID: "retrying", Running: true, LastResult: "retry", Backlog: 2},
		{ID: "dead", Running: true, LastResult: "dead"},
		{ID: "behind", Running: true, LastResult: "ok", Backlog: backlogAttention},
		{ID: "both", Running: true, LastResult: "retry", Backlog: 500},
		{ID: "lost", Running: true, LastResult: "ok", Backlog: 30, ConsumerError: "its consumer was lost and cannot be made again: maximum consumers limit reached"},
	}
	want := map[string]string{
		"off":      "disabled; its alerts stay queued until it is enabled: change its config and reload, or run newswatch subscribers enable off",
		"retrying": "deliveries fail, retrying",
		"dead":     "its last delivery was dead-lettered",
		"behind":   "20 alerts waiting",
		"both":     "deliveries fail, retrying; 500 alerts waiting",
		"lost": "no consumer to pull from, nothing is delivered; its alerts stay queued: its consumer was lost and cannot be made again: maximum consumers limit reached; " +
			"30 alerts waiting",
	}
	got := troubledSubscribers(subs)
	if len(got) != len(want) {
		t.Errorf("troubled = %+v, want %v", got, want)
	}
	for _, s := range got {
		if s.Why != want[s.ID] {
			t.Errorf("%s: why %q, want %q", s.ID, s.Why, want[s.ID])
		}
	}
}
