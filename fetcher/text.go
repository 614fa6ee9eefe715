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
		return collapseSpace(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return collapseSpace(b.String())
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
