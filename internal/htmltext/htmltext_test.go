package htmltext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain &amp; simple", "plain & simple"},
		{"<p>One</p><p>Two &lt;3</p>", "One\nTwo <3"},
		{"a<script>var x = '<p>no</p>';</script>b<style>p{}</style>c", "abc"},
		{"  lots   of\t\tspace \n\n\n here ", "lots of space\nhere"},
		{"line<br>break", "line\nbreak"},
		{"don&#146;t", "don’t"},
		{"&#226;&#128;&#166;", "…"},
		{"caf\u00e9 cr\u00e8me", "café crème"},
		{"<b>unclosed <i>tags", "unclosed tags"},
		{"&nbsp;nbsp&nbsp;", "nbsp"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "&#226;&#128;&#166;", "don&#146;t", "<script>x", "a<b", "\x80\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", out)
		}
		if strings.Contains(out, "  ") {
			t.Fatalf("uncollapsed space: %q", out)
		}
	})
}
