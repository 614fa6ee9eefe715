package fetcher

import (
	"bytes"
	"fmt"
)

// Limits on XML shape, checked by a linear scan before gofeed sees a body.
const (
	// maxTextFragments is how many pieces (CDATA sections, with comments
	// and processing instructions between them) one element's text may
	// come in before it is merged. gofeed v1.4.2 joins extension text
	// with +=, so n pieces cost O(n²): 40,000 pieces of a 600 KB feed take
	// seconds and gigabytes. Real feeds use one or two.
	maxTextFragments = 256
	// maxDepth bounds element nesting: gofeed parses extension elements
	// recursively, and a stack overflow is fatal, not a recoverable panic.
	maxDepth = 10000
)

var (
	cdataOpen    = []byte("<![CDATA[")
	cdataClose   = []byte("]]>")
	commentOpen  = []byte("<!--")
	commentClose = []byte("-->")
	piClose      = []byte("?>")
)

// xmlShape scans an XML body and reports the largest number of text
// fragments found in one element and the deepest nesting. It does not
// validate; it only needs to be right about the inputs that hurt.
func xmlShape(b []byte) (fragments, depth int) {
	cur, d := 0, 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			break
		}
		i += j
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, cdataOpen):
			cur++
			i = skipPast(b, i+len(cdataOpen), cdataClose)
		case bytes.HasPrefix(rest, commentOpen):
			cur++
			i = skipPast(b, i+len(commentOpen), commentClose)
		case len(rest) > 1 && rest[1] == '?':
			cur++
			i = skipPast(b, i+2, piClose)
		case len(rest) > 1 && rest[1] == '!':
			i = skipPast(b, i+2, []byte(">"))
		case len(rest) > 1 && rest[1] == '/':
			cur = 0
			d--
			i = skipPast(b, i+2, []byte(">"))
		default:
			cur = 0
			end := skipPast(b, i+1, []byte(">"))
			if end-2 <= i || b[end-2] != '/' {
				d++
				depth = max(depth, d)
			}
			i = end
		}
		fragments = max(fragments, cur)
	}
	return fragments, depth
}

// skipPast returns the index just after the first sep at or after i, or
// len(b) when there is none.
func skipPast(b []byte, i int, sep []byte) int {
	if i >= len(b) {
		return len(b)
	}
	k := bytes.Index(b[i:], sep)
	if k < 0 {
		return len(b)
	}
	return i + k + len(sep)
}

// guardXML makes a feed body safe to hand to gofeed: too-deep nesting is
// refused, and text split into very many fragments is merged, by turning
// every CDATA section into escaped text and dropping comments and
// processing instructions. The XML decoder yields the same characters
// either way, in one token instead of thousands.
func guardXML(b []byte) ([]byte, error) {
	frags, depth := xmlShape(b)
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: elements nested more than %d deep", ErrParse, maxDepth)
	}
	if frags <= maxTextFragments {
		return b, nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			out = append(out, b[i:]...)
			break
		}
		out = append(out, b[i:i+j]...)
		i += j
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, cdataOpen):
			start := i + len(cdataOpen)
			end := bytes.Index(b[start:], cdataClose)
			if end < 0 {
				end = len(b) - start
			}
			out = appendEscaped(out, b[start:start+end])
			i = min(start+end+len(cdataClose), len(b))
		case bytes.HasPrefix(rest, commentOpen):
			i = skipPast(b, i+len(commentOpen), commentClose)
		case len(rest) > 1 && rest[1] == '?':
			i = skipPast(b, i+2, piClose)
		default:
			out = append(out, '<')
			i++
		}
	}
	return out, nil
}

func appendEscaped(out, text []byte) []byte {
	for _, c := range text {
		switch c {
		case '&':
			out = append(out, "&amp;"...)
		case '<':
			out = append(out, "&lt;"...)
		case '>':
			out = append(out, "&gt;"...)
		default:
			out = append(out, c)
		}
	}
	return out
}
