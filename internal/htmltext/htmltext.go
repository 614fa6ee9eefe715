// Package htmltext turns HTML into text: the fetcher's article text and
// the classifier's cleaned text come from one tag scanner here.
package htmltext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipText are elements whose content is never article text.
var skipText = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Iframe: true, atom.Object: true, atom.Svg: true, atom.Math: true,
	atom.Head: true, atom.Select: true, atom.Button: true,
}

// blockText are elements that separate text: their boundaries become a
// newline so that "<p>a</p><p>b</p>" does not read "ab".
var blockText = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.Li: true, atom.Ul: true, atom.Ol: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Blockquote: true, atom.Pre: true, atom.Tr: true, atom.Td: true, atom.Th: true,
	atom.Table: true, atom.Section: true, atom.Article: true, atom.Header: true,
	atom.Footer: true, atom.Figure: true, atom.Figcaption: true, atom.Dd: true, atom.Dt: true,
	atom.Dl: true, atom.Hr: true, atom.Aside: true, atom.Nav: true, atom.Main: true,
	atom.Address: true, atom.Caption: true, atom.Summary: true, atom.Details: true,
}

// Text turns an HTML fragment (or plain text, which passes through
// with entities decoded) into clean text: tags stripped, entities decoded,
// scripts and styles dropped, runs of spaces collapsed, paragraphs kept as
// single newlines. It never fails: any input is text or tags.
//
// It is a single-pass scanner rather than the x/net/html tokenizer: it
// runs on every summary and content of every item, and the tokenizer's
// allocations made it a fifth of a refresh's CPU time.
func Text(s string) string {
	if s == "" {
		return ""
	}
	var w textWriter
	w.b.Grow(len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			w.text(s[i:])
			break
		}
		w.text(s[i : i+j])
		i += j
		rest := s[i:]
		if strings.HasPrefix(rest, "<!--") {
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		if len(rest) > 1 && (rest[1] == '!' || rest[1] == '?') {
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				break
			}
			i += end + 1
			continue
		}
		closing := len(rest) > 1 && rest[1] == '/'
		k := 1
		if closing {
			k = 2
		}
		n := k
		for n < len(rest) && (isASCIILetter(rest[n]) || (n > k && rest[n] >= '0' && rest[n] <= '9')) {
			n++
		}
		if n == k {
			w.text("<") // a lone '<' is text
			i++
			continue
		}
		end := tagEnd(rest, n)
		if end < 0 {
			break // an unfinished tag at the end: drop it
		}
		i += end + 1
		a := atom.Lookup([]byte(strings.ToLower(rest[k:n])))
		if !closing && skipText[a] && rest[end-1] != '/' {
			// Skip to the matching end tag; the end tag itself is then
			// read as a tag and ignored.
			idx := indexEndTag(s[i:], rest[k:n])
			if idx < 0 {
				break
			}
			i += idx
			continue
		}
		if blockText[a] {
			w.newline()
		}
	}
	return repairText(w.b.String())
}

// tagEnd returns the index of the '>' that ends the tag starting at s[0],
// skipping quoted attribute values, or -1.
func tagEnd(s string, from int) int {
	var quote byte
	for i := from; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

// indexEndTag finds "</name" in s, ignoring case.
func indexEndTag(s, name string) int {
	for i := 0; ; {
		j := strings.Index(s[i:], "</")
		if j < 0 {
			return -1
		}
		i += j
		if len(s)-i-2 >= len(name) && strings.EqualFold(s[i+2:i+2+len(name)], name) {
			return i
		}
		i += 2
	}
}

// textWriter appends text with entities decoded and whitespace collapsed:
// runs of spaces become one space, runs containing a line break (or a
// block boundary) one newline, and nothing leads or trails.
type textWriter struct {
	b      strings.Builder
	sp, nl bool
}

func (w *textWriter) newline() { w.nl = true }

func (w *textWriter) text(s string) {
	if s == "" {
		return
	}
	if strings.IndexByte(s, '&') >= 0 {
		s = html.UnescapeString(s)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '\n', '\r', '\f', '\v':
				w.nl = true
				i++
			case ' ', '\t':
				w.sp = true
				i++
			default:
				// Copy the run of visible ASCII in one write.
				j := i + 1
				for j < len(s) && s[j] > ' ' && s[j] < utf8.RuneSelf {
					j++
				}
				w.put()
				w.b.WriteString(s[i:j])
				i = j
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\u2028' || r == '\u2029':
			w.nl = true
		case unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff':
			w.sp = true
		default:
			w.put()
			w.b.WriteString(s[i : i+size])
		}
		i += size
	}
}

// put writes the pending separator before a visible character.
func (w *textWriter) put() {
	if w.b.Len() > 0 {
		if w.nl {
			w.b.WriteByte('\n')
		} else if w.sp {
			w.b.WriteByte(' ')
		}
	}
	w.sp, w.nl = false, false
}

// CollapseSpace collapses horizontal whitespace to one space and blank
// lines to one newline, and trims each line.
func CollapseSpace(s string) string {
	var w textWriter
	w.b.Grow(len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '&')
		if j < 0 {
			w.text(s[i:])
			break
		}
		// Text here is already decoded: write '&' runs verbatim.
		w.text(s[i : i+j])
		w.put()
		w.b.WriteByte('&')
		i += j + 1
	}
	return w.b.String()
}

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// repairText undoes two common publishing mistakes: UTF-8 that was read as
// Windows-1252 or Latin-1 and encoded again ("â€¦" for "…"), and C1
// control characters that stand for Windows-1252 punctuation
// ("don\u0092t", from &#146;), which HTML5 readers map the same way.
func repairText(s string) string {
	// Both mistakes need U+0080–U+00FF characters, which UTF-8 encodes
	// with a 0xC2 or 0xC3 lead byte: most text is spared the scan.
	if strings.IndexByte(s, 0xC2) < 0 && strings.IndexByte(s, 0xC3) < 0 {
		return s
	}
	if fixed, ok := undoMojibake(s); ok {
		s = fixed
	}
	if !strings.ContainsFunc(s, isC1) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isC1(r) {
			if w := cp1252[r-0x80]; w != 0 {
				return w
			}
			return -1
		}
		return r
	}, s)
}

func isC1(r rune) bool { return r >= 0x80 && r <= 0x9F }

// undoMojibake reverses a Windows-1252 misreading of UTF-8: it applies
// only when every character maps back to one byte and the bytes are valid
// UTF-8 with at least one multi-byte sequence. Genuine Latin-1 text never
// forms such sequences ("café" stays), so the check is safe.
func undoMojibake(s string) (string, bool) {
	lead := false
	for i, r := range s {
		if r >= 0xC2 && r <= 0xF4 && i+1 < len(s) {
			lead = true
			break
		}
	}
	if !lead {
		return "", false
	}
	raw := make([]byte, 0, len(s))
	multi := false
	for _, r := range s {
		switch {
		case r < 0x80:
			raw = append(raw, byte(r))
		case r <= 0xFF:
			raw = append(raw, byte(r))
			multi = true
		default:
			b, ok := cp1252Byte[r]
			if !ok {
				return "", false
			}
			raw = append(raw, b)
		}
	}
	if !multi || !utf8.Valid(raw) {
		return "", false
	}
	return string(raw), true
}

// cp1252 maps 0x80–0x9F to what Windows-1252 puts there (0: unassigned).
var cp1252 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

// cp1252Byte is the reverse of cp1252.
var cp1252Byte = func() map[rune]byte {
	m := make(map[rune]byte, 27)
	for i, r := range cp1252 {
		if r != 0 {
			m[r] = byte(0x80 + i)
		}
	}
	return m
}()
