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

func TestStrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain &amp; simple", "plain & simple"},
		{"U.S.–China <b>fentanyl</b> talks", "U.S.–China fentanyl talks"},
		{"one<p>two</p>three", "one two three"},
		{"a<br><br>b", "a b"},
		{"a<img src=x>b", "a b"},
		{"keep  spaces\n\there", "keep  spaces\n\there"},
		{"a<script>var x = '<p>no</p>';</script>b<style>p{}</style>c", "abc"},
		{"a<SCRIPT/>hidden</script >b", "ab"},
		{"<!doctype html>x<!-- c -->y<?pi?>z", " xy z"},
		{"a < b &lt; c", "a < b < c"},
		{"&amp no semicolon, &#8217; &#x2019; &hellip; &eacute;", "&amp no semicolon, ’ ’ … é"},
		{"&#0; &#xD800;", "\uFFFD \uFFFD"},
		{"a<b x='>'>c", "a'>c"},
		{"a<p unterminated", "a"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(Strip([]byte("·"), tt.in)); got != "·"+tt.want {
			t.Errorf("Strip(%q) = %q, want %q", tt.in, got[len("·"):], tt.want)
		}
	}
}

func FuzzStrip(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "&#226;&#128;&#166;", "<script>x", "a<b", "\x80\xff", "&#x110000;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Strip([]byte("x"), s)
		if len(out) == 0 || out[0] != 'x' {
			t.Fatalf("dst not kept: %q", out)
		}
		if utf8.ValidString(s) && !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", out)
		}
	})
}
