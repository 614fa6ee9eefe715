package news

import "testing"

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTPS://Example.COM:443/a/b/?utm_source=x&b=2&a=1#frag", "https://example.com/a/b?a=1&b=2"},
		{"http://example.com:80/", "http://example.com"},
		{"http://example.com:8080/x", "http://example.com:8080/x"},
		{"https://user:pw@example.com./p?fbclid=1&gclid=2&id=7", "https://example.com/p?id=7"},
		{"https://example.com/p?z=1&a=2&a=1", "https://example.com/p?a=2&a=1&z=1"},
		{"https://example.com/p?UTM_Campaign=x", "https://example.com/p"},
		{"https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"},
		{"https://example.com/p?", "https://example.com/p"},
		{"  not a url  ", "not a url"},
		{"https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := NormalizeURL(tt.in); got != tt.want {
				t.Errorf("NormalizeURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestArticleID(t *testing.T) {
	same := []struct {
		name         string
		guid1, link1 string
		guid2, link2 string
	}{
		{"tracking and fragment", "", "https://example.com/story?utm_source=rss#top", "", "https://EXAMPLE.com/story/"},
		{"http and https", "", "http://example.com/story", "", "https://example.com/story"},
		{"permalink guid equals link", "https://example.com/story", "https://example.com/story", "", "https://example.com/story?fbclid=abc"},
		{"guid wins over changing link", "tag:example.com,2024:1", "https://example.com/a", "tag:example.com,2024:1", "https://example.com/b"},
		{"query order", "", "https://example.com/s?b=2&a=1", "", "https://example.com/s?a=1&b=2"},
		{"guid whitespace", " 12345 ", "", "12345", ""},
	}
	for _, tt := range same {
		t.Run("same/"+tt.name, func(t *testing.T) {
			a, b := ArticleID(tt.guid1, tt.link1), ArticleID(tt.guid2, tt.link2)
			if a != b {
				t.Errorf("ids differ: %s vs %s", a, b)
			}
			if len(a) != 24 {
				t.Errorf("id %q: want 24 hex chars", a)
			}
		})
	}
	differ := []struct {
		name         string
		guid1, link1 string
		guid2, link2 string
	}{
		{"different path", "", "https://example.com/a", "", "https://example.com/b"},
		{"meaningful query", "", "https://example.com/s?id=1", "", "https://example.com/s?id=2"},
		{"guid case matters", "ABC", "", "abc", ""},
		{"guid vs link namespace", "https-less", "", "", "https-less"},
		{"different host", "", "https://a.example/x", "", "https://b.example/x"},
	}
	for _, tt := range differ {
		t.Run("differ/"+tt.name, func(t *testing.T) {
			if ArticleID(tt.guid1, tt.link1) == ArticleID(tt.guid2, tt.link2) {
				t.Error("ids are equal")
			}
		})
	}
}
