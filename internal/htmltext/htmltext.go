// Package htmltext turns HTML into text. One scanner reads the markup in
// two dialects: Text, the fetcher's article text (paragraphs kept,
// spaces collapsed, publishing mistakes repaired), and Strip, the
// classifier's raw material (every non-inline tag a word break, nothing
// collapsed, no allocation).
package htmltext

import (
	"html"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// skipText are elements whose content is never article text.
var skipText = names("script", "style", "noscript", "template", "iframe", "object", "svg", "math",
	"head", "select", "button")

// blockText are elements that separate text: their boundaries become a
// newline so that "<p>a</p><p>b</p>" does not read "ab".
var blockText = names("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
	"blockquote", "pre", "tr", "td", "th", "table", "section", "article", "header",
	"footer", "figure", "figcaption", "dd", "dt", "dl", "hr", "aside", "nav", "main",
	"address", "caption", "summary", "details")

// inlineTags join the text on both sides in Strip; every other tag
// separates words.
var inlineTags = names("a", "b", "i", "u", "em", "strong", "span", "font", "sup", "sub", "abbr",
	"small", "mark", "s", "code", "wbr")

func names(ns ...string) map[string]bool {
	m := make(map[string]bool, len(ns))
	for _, n := range ns {
		m[n] = true
	}
	return m
}

// Text turns an HTML fragment (or plain text, which passes through with
// entities decoded) into clean text: tags stripped, entities decoded,
// scripts and styles dropped, runs of spaces collapsed, paragraphs kept as
// single newlines. It never fails: any input is text or tags. This is the
// article text the fetcher stores.
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
	z := scanner{s: s, d: &articleDialect}
	for {
		switch kind, v := z.next(); kind {
		case tokText:
			w.text(v)
		case tokTag:
			if blockText[v] {
				w.newline()
			}
		default:
			return repairText(w.b.String())
		}
	}
}

// Strip appends s to dst without tags, comments, script/style bodies, and
// with character references decoded; every tag but an inline one (<b>,
// <a>, <span>...) becomes a space, and white space is left as it is. It
// is deliberately forgiving: a '<' that does not open a tag is kept as
// text. This is the classifier's view of a text, which it folds itself;
// it does not allocate beyond dst.
func Strip(dst []byte, s string) []byte {
	z := scanner{s: s, d: &matchDialect}
	for {
		switch kind, v := z.next(); kind {
		case tokText:
			dst = appendDecoded(dst, v)
		case tokTag:
			if !inlineTags[v] && (len(dst) == 0 || dst[len(dst)-1] != ' ') {
				dst = append(dst, ' ')
			}
		default:
			return dst
		}
	}
}

// A dialect is how a scan reads markup.
type dialect struct {
	// loose: a '<' before a letter, '/', '!' or '?' opens a tag, which
	// ends at the first '>'; declarations (<!DOCTYPE>, <?xml?>) are tags
	// without a name; a skipped element's content runs to its end tag
	// even when its start tag is self-closing, as browsers read
	// <script/>. Otherwise only a '<' or "</" before a letter opens a
	// tag, which ends at the first '>' outside quotes; declarations are
	// dropped; a self-closing start tag has no content to skip.
	loose bool
	skip  map[string]bool // elements whose content is dropped
}

var (
	articleDialect = dialect{skip: skipText}
	matchDialect   = dialect{loose: true, skip: names("script", "style")}
)

type tokenKind int8

const (
	tokEnd  tokenKind = iota
	tokText           // a run of text, character references not decoded
	tokTag            // a start or end tag, by lower-case name
)

// scanner steps through markup one token at a time.
type scanner struct {
	s string
	i int
	d *dialect
}

// next returns the next run of text or the next tag; tokEnd at the end of
// the input, or where an unfinished comment, tag or skipped element makes
// the rest unreadable (it is dropped).
func (z *scanner) next() (tokenKind, string) {
	s := z.s
	for z.i < len(s) {
		i := z.i
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			z.i = len(s)
			return tokText, s[i:]
		}
		if j > 0 {
			z.i = i + j
			return tokText, s[i : i+j]
		}
		rest := s[i:]
		if !z.opensTag(rest) {
			z.i++
			return tokText, "<" // a lone '<' is text
		}
		if strings.HasPrefix(rest, "<!--") {
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				break
			}
			z.i += 4 + end + 3
			continue
		}
		if z.d.loose {
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				break
			}
			name := tagName(rest[1:end])
			z.i += end + 1
			if rest[1] != '/' && z.d.skip[name] {
				k := indexEndTag(s[z.i:], name)
				if k < 0 {
					break
				}
				z.i += k + 2 + len(name)
				if k = strings.IndexByte(s[z.i:], '>'); k < 0 {
					break
				}
				z.i += k + 1
				continue
			}
			return tokTag, name
		}
		if rest[1] == '!' || rest[1] == '?' {
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				break
			}
			z.i += end + 1
			continue
		}
		k := 1
		if rest[1] == '/' {
			k = 2
		}
		n := k + 1
		for n < len(rest) && (isASCIILetter(rest[n]) || (rest[n] >= '0' && rest[n] <= '9')) {
			n++
		}
		end := tagEnd(rest, n)
		if end < 0 {
			break // an unfinished tag at the end: drop it
		}
		z.i += end + 1
		name := lowerASCII(rest[k:n])
		if k == 1 && z.d.skip[name] && rest[end-1] != '/' {
			// Skip to the matching end tag, which is then read as a tag.
			idx := indexEndTag(s[z.i:], name)
			if idx < 0 {
				break
			}
			z.i += idx
			continue
		}
		return tokTag, name
	}
	z.i = len(s)
	return tokEnd, ""
}

// opensTag reports whether rest, which starts with '<', opens a tag, a
// comment or a declaration in the scanner's dialect.
func (z *scanner) opensTag(rest string) bool {
	if len(rest) < 2 {
		return false
	}
	c := rest[1]
	switch {
	case isASCIILetter(c) || c == '!' || c == '?':
		return true
	case c == '/':
		return z.d.loose || len(rest) > 2 && isASCIILetter(rest[2])
	}
	return false
}

// tagName returns the lower-case element name of a tag body such as
// "/P class=x" ("" for a declaration).
func tagName(body string) string {
	body = strings.TrimPrefix(body, "/")
	n := 0
	for n < len(body) && (isASCIILetter(body[n]) || (n > 0 && body[n] >= '0' && body[n] <= '9')) {
		n++
	}
	return lowerASCII(body[:n])
}

// lowerASCII lower-cases a name of ASCII letters and digits, without
// allocating when it is lower-case already.
func lowerASCII(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= 'A' && name[i] <= 'Z' {
			return strings.ToLower(name)
		}
	}
	return name
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

// appendDecoded appends s with its character references decoded.
func appendDecoded(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '&')
		if j < 0 {
			return append(dst, s[i:]...)
		}
		dst = append(dst, s[i:i+j]...)
		i += j
		r, n := decodeEntity(s[i:])
		if n == 0 {
			dst = append(dst, '&')
			i++
			continue
		}
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst
}

// commonEntities are decoded without a map lookup in html's large table.
var commonEntities = map[string]rune{
	"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\'', "nbsp": '\u00a0',
	"ndash": '–', "mdash": '—', "lsquo": '‘', "rsquo": '’', "ldquo": '“', "rdquo": '”',
	"hellip": '…', "eacute": 'é', "aacute": 'á', "iacute": 'í', "oacute": 'ó', "uacute": 'ú',
	"ntilde": 'ñ', "uuml": 'ü', "ouml": 'ö', "auml": 'ä', "szlig": 'ß', "ccedil": 'ç',
	"egrave": 'è', "agrave": 'à', "middot": '·', "laquo": '«', "raquo": '»', "copy": '©',
}

// decodeEntity decodes the character reference at the start of s, which
// begins with '&', and returns the rune and its length; n == 0 means s
// does not start with a reference and the '&' is literal. Only references
// closed by ';' count.
func decodeEntity(s string) (r rune, n int) {
	end := strings.IndexByte(s[:min(len(s), 34)], ';')
	if end < 2 {
		return 0, 0
	}
	body := s[1:end]
	if body[0] == '#' {
		var v uint64
		var err error
		if len(body) > 1 && (body[1] == 'x' || body[1] == 'X') {
			v, err = strconv.ParseUint(body[2:], 16, 32)
		} else {
			v, err = strconv.ParseUint(body[1:], 10, 32)
		}
		if err != nil {
			return 0, 0
		}
		r = rune(v)
		if !utf8.ValidRune(r) || r == 0 {
			r = utf8.RuneError
		}
		return r, end + 1
	}
	if r, ok := commonEntities[body]; ok {
		return r, end + 1
	}
	for _, c := range []byte(body) {
		if !isASCIILetter(c) && !(c >= '0' && c <= '9') {
			return 0, 0
		}
	}
	// Rare named references: let the standard library decode them.
	dec := html.UnescapeString(s[:end+1])
	if dec == s[:end+1] {
		return 0, 0
	}
	r, size := utf8.DecodeRuneInString(dec)
	if size != len(dec) {
		return 0, 0 // multi-rune references are not worth the trouble
	}
	return r, end + 1
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
