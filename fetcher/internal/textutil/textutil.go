// Package textutil holds the small string and link helpers that the
// fetcher's parsers share.
package textutil

import (
	"net/url"
	"strings"
)

// Head is b's first n bytes, or b when it is shorter.
func Head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !isRuneStart(s[i]) {
		i--
	}
	return strings.TrimSpace(s[:i]) + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// FirstNonEmpty is the first of ss that is not blank, trimmed.
func FirstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ResolveLink resolves ref against base and keeps it only if it is http(s).
func ResolveLink(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}
