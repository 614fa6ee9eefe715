package news

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCutUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"abc", 0, ""},
		{"日本語", 4, "日"}, // 3-byte runes: never half of one
		{"日本語", 6, "日本"},
		{"a😀b", 4, "a"},
		{"a😀b", 5, "a😀"},
		{"\xff\xfe", 1, "\xff"}, // invalid bytes are cut where asked
	} {
		if got := CutUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("CutUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestCapMarksTruncated(t *testing.T) {
	a := Article{Title: "t", Summary: strings.Repeat("ü", MaxFieldBytes), Content: "short"}
	if !a.Cap(0) || !a.Truncated {
		t.Fatal("Cap did not cut a summary twice the limit")
	}
	if len(a.Summary) > MaxFieldBytes || !utf8.ValidString(a.Summary) {
		t.Errorf("summary: %d bytes, valid UTF-8 %v", len(a.Summary), utf8.ValidString(a.Summary))
	}
	if a.Content != "short" {
		t.Errorf("content changed: %q", a.Content)
	}
	b := Article{Summary: "s"}
	if b.Cap(0) || b.Truncated {
		t.Error("Cap marked a small article truncated")
	}
}

func FuzzCutUTF8(f *testing.F) {
	f.Add("日本語 text", 4)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := CutUTF8(s, n)
		if len(got) > max(n, 0) || !strings.HasPrefix(s, got) {
			t.Fatalf("CutUTF8(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("CutUTF8 split a rune: %q", got)
		}
	})
}
