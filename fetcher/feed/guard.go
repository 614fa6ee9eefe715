package feed

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

// xmlShape reports the largest number of text fragments found in one
// element and the deepest nesting of an XML body (see scanXML).
func xmlShape(b []byte) (fragments, depth int) {
	st := scanXML(b)
	return st.fragments, st.depth
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
	b, _, err := guardXMLStats(b)
	return b, err
}

// guardXMLStats is guardXML that also returns the shape of the body it
// returns.
func guardXMLStats(b []byte) ([]byte, xmlStats, error) {
	st := scanXML(b)
	if st.depth > maxDepth {
		return nil, st, fmt.Errorf("%w: elements nested more than %d deep", ErrParse, maxDepth)
	}
	if st.fragments <= maxTextFragments {
		return b, st, nil
	}
	b = mergeFragments(b)
	return b, scanXML(b), nil
}

// mergeFragments turns every CDATA section into escaped text and drops
// comments and processing instructions.
func mergeFragments(b []byte) []byte {
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
	return out
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
