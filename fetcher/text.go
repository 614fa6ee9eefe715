package fetcher

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

// htmlToText turns an HTML fragment (or plain text, which passes through
// with entities decoded) into clean text: tags stripped, entities decoded,
// scripts and styles dropped, runs of spaces collapsed, paragraphs kept as
// single newlines. It never fails: the tokenizer accepts any input.
func htmlToText(s string) string {
	if s == "" {
		return ""
	}
	if !strings.ContainsAny(s, "<&") {
		return repairText(collapseSpace(s))
	}
	var b strings.Builder
	b.Grow(len(s))
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return repairText(collapseSpace(b.String()))
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipText[a] {
				skip++
			} else if blockText[a] {
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipText[a] {
				if skip > 0 {
					skip--
				}
			} else if blockText[a] {
				b.WriteByte('\n')
			}
		case html.SelfClosingTagToken:
			name, _ := z.TagName()
			if a := atom.Lookup(name); blockText[a] {
				b.WriteByte('\n')
			}
		}
	}
}

// collapseSpace collapses horizontal whitespace to one space and blank
// lines to one newline, and trims each line.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space, newline := false, false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			newline = true
		case unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff':
			space = true
		default:
			if b.Len() > 0 {
				if newline {
					b.WriteByte('\n')
				} else if space {
					b.WriteByte(' ')
				}
			}
			space, newline = false, false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// looksLikeHTML reports whether text holds markup worth keeping as HTML.
func looksLikeHTML(s string) bool {
	i := strings.IndexByte(s, '<')
	return i >= 0 && i+1 < len(s) && (s[i+1] == '/' || s[i+1] == '!' || isASCIILetter(s[i+1]))
}

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// repairText undoes two common publishing mistakes: UTF-8 that was read as
// Windows-1252 or Latin-1 and encoded again ("â€¦" for "…"), and C1
// control characters that stand for Windows-1252 punctuation
// ("don\u0092t", from &#146;), which HTML5 readers map the same way.
func repairText(s string) string {
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
