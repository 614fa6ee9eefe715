// Package charset converts fetched feeds and pages to UTF-8. The charset
// comes from a byte-order mark, the UTF-16/32 layout of "<?", the HTTP
// Content-Type, the XML declaration, <meta>, valid UTF-8 or, last, a
// statistical guess; many Chinese sites serve GBK, GB2312 or Big5.
package charset

import (
	"bytes"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gogs/chardet"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"newswatch/fetcher/internal/textutil"
)

// Decoded is a body converted to UTF-8, with the name of the charset it was
// read as and where that came from (for logs and tests).
type Decoded struct {
	Body    []byte
	Charset string // canonical lower-case name, e.g. "utf-8", "gb18030"
	From    string // bom, pattern, header, xml, meta, utf-8, guess, default
}

// Guessed reports whether the charset was guessed rather than declared:
// the first thing to check when a source's text looks wrong.
func (d Decoded) Guessed() bool { return d.From == "guess" || d.From == "default" }

// xmlDeclRe matches an XML declaration at the very start of a document
// (after decoding); its encoding attribute no longer holds once the body is
// UTF-8, so it is replaced.
var xmlDeclRe = regexp.MustCompile(`^\s*<\?xml[^>]*\?>`)

// xmlEncodingRe finds the encoding pseudo-attribute in an ASCII-compatible
// XML declaration.
var xmlEncodingRe = regexp.MustCompile(`^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]+)["']`)

// metaCharsetRe finds <meta charset="x"> and <meta http-equiv=...
// content="text/html; charset=x"> in the head of a page.
var metaCharsetRe = regexp.MustCompile(`(?i)<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)`)

// DecodeXML converts a feed body to UTF-8. The charset comes from, in order:
// a byte-order mark; the UTF-16/32 pattern of "<?" (feeds without a BOM);
// the HTTP Content-Type charset (it overrides the XML declaration, as RFC
// 7303 says); the XML declaration; <meta> for HTML served as a feed; valid
// UTF-8; a statistical guess. The XML declaration is rewritten to say utf-8
// so that the XML decoder does not convert a second time, invalid UTF-8 is
// replaced with U+FFFD so that one bad byte does not lose the whole feed.
func DecodeXML(body []byte, contentType string) Decoded {
	d := detect(body, contentType, true)
	out := d.Body
	if m := xmlDeclRe.FindIndex(out); m != nil {
		// Drop the declaration: it has done its job, and a stale encoding
		// attribute would make the XML decoder convert the text again.
		out = out[m[1]:]
	}
	d.Body = out
	return d
}

// DecodeHTML converts an HTML page to UTF-8 (BOM, Content-Type, <meta>,
// valid UTF-8, statistical guess).
func DecodeHTML(body []byte, contentType string) Decoded {
	return detect(body, contentType, false)
}

func detect(body []byte, contentType string, isXML bool) Decoded {
	if enc, name, n := bomEncoding(body); enc != nil {
		return convert(body[n:], enc, name, "bom")
	}
	if enc, name := patternEncoding(body); enc != nil {
		return convert(body, enc, name, "pattern")
	}
	var lying encoding.Encoding // a charset=utf-8 header on a non-UTF-8 body
	if enc, name := Lookup(headerCharset(contentType)); enc != nil {
		// Many servers add charset=utf-8 to everything. When the body is
		// not UTF-8, a declaration in the document is the better witness;
		// without one, the header still wins (and bad bytes are replaced).
		if name != "utf-8" || utf8.Valid(body) {
			return convert(body, enc, name, "header")
		}
		lying = enc
	}
	if isXML {
		if m := xmlEncodingRe.FindSubmatch(textutil.Head(body, 512)); m != nil {
			if enc, name := Lookup(string(m[1])); enc != nil {
				if name != "utf-8" && isMultibyteUTF8(body) {
					return convert(body, unicode.UTF8, "utf-8", "utf-8")
				}
				return convert(body, enc, name, "xml")
			}
		}
	}
	// <meta charset> or http-equiv: also found in RSS served by CMSes
	// that template their feeds like pages, so it is checked for both.
	if m := metaCharsetRe.FindSubmatch(textutil.Head(body, 2048)); m != nil {
		if enc, name := Lookup(string(m[1])); enc != nil {
			if name != "utf-8" && isMultibyteUTF8(body) {
				return convert(body, unicode.UTF8, "utf-8", "utf-8")
			}
			return convert(body, enc, name, "meta")
		}
	}
	if lying != nil {
		return convert(body, lying, "utf-8", "header")
	}
	if utf8.Valid(body) {
		return Decoded{Body: body, Charset: "utf-8", From: "utf-8"}
	}
	if enc, name := guessCharset(body); enc != nil {
		return convert(body, enc, name, "guess")
	}
	return convert(body, charmap.Windows1252, "windows-1252", "default")
}

// isMultibyteUTF8 reports whether b is valid UTF-8 with non-ASCII text in
// it. Text in a legacy multi-byte or 8-bit charset almost never is, so it
// overrules a declaration in the document: pages re-saved as UTF-8 keep
// their old <meta charset>, and feeds declare iso-8859-1 out of habit.
func isMultibyteUTF8(b []byte) bool {
	high := false
	for _, c := range b {
		if c >= 0x80 {
			high = true
			break
		}
	}
	return high && utf8.Valid(b)
}

// convert decodes body with enc; UTF-8 is only repaired.
func convert(body []byte, enc encoding.Encoding, name, from string) Decoded {
	if name == "utf-8" {
		if !utf8.Valid(body) {
			body = bytes.ToValidUTF8(body, []byte("\uFFFD"))
		}
		return Decoded{Body: body, Charset: name, From: from}
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		// x/text decoders replace bad input rather than fail, so this is a
		// transformer limit; fall back to a lossy but valid reading.
		out = bytes.ToValidUTF8(body, []byte("\uFFFD"))
	}
	if !utf8.Valid(out) {
		out = bytes.ToValidUTF8(out, []byte("\uFFFD"))
	}
	return Decoded{Body: out, Charset: name, From: from}
}

func bomEncoding(b []byte) (encoding.Encoding, string, int) {
	switch {
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFE, 0xFF}):
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), "utf-32be", 4
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), "utf-32le", 4
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return unicode.UTF8, "utf-8", 3
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be", 2
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le", 2
	}
	return nil, "", 0
}

// patternEncoding recognises UTF-16/32 documents without a BOM by the way
// their first character, '<', is laid out (XML 1.0 appendix F).
func patternEncoding(b []byte) (encoding.Encoding, string) {
	switch {
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0x00, 0x3C}):
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), "utf-32be"
	case bytes.HasPrefix(b, []byte{0x3C, 0x00, 0x00, 0x00}):
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), "utf-32le"
	case bytes.HasPrefix(b, []byte{0x00, 0x3C, 0x00}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be"
	case bytes.HasPrefix(b, []byte{0x3C, 0x00}) && len(b) > 2 && b[2] != 0:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le"
	}
	return nil, ""
}

// headerCharset returns the charset parameter of a Content-Type, tolerating
// the quoting mistakes seen in the wild (charset='gb2312').
func headerCharset(contentType string) string {
	if contentType == "" {
		return ""
	}
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		return strings.Trim(params["charset"], `'" `)
	}
	// mime rejects some malformed values; find the parameter by hand.
	for _, part := range strings.Split(contentType, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "charset") {
			return strings.Trim(v, `'" `)
		}
	}
	return ""
}

// Lookup maps a charset label to a decoder and a canonical name.
// GB2312 and GBK labels decode as GB18030, their superset: sites that
// declare gb2312 routinely use characters outside it. Labels for 8-bit
// Latin charsets follow the WHATWG table (iso-8859-1 and us-ascii read as
// windows-1252), which is what browsers, and so publishers, expect.
func Lookup(label string) (encoding.Encoding, string) {
	l := strings.ToLower(strings.TrimSpace(label))
	switch l {
	case "":
		return nil, ""
	case "utf-8", "utf8", "unicode-1-1-utf-8":
		return unicode.UTF8, "utf-8"
	case "gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn", "csgb2312", "chinese", "gb_2312-80":
		return simplifiedchinese.GB18030, "gb18030"
	case "utf-32", "utf32", "ucs-4":
		return utf32.UTF32(utf32.BigEndian, utf32.UseBOM), "utf-32be"
	case "utf-32be":
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), "utf-32be"
	case "utf-32le":
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), "utf-32le"
	case "utf-16", "utf16", "ucs-2":
		// Without a BOM (we got here) or pattern, big-endian is the default.
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "utf-16be"
	}
	enc, err := htmlindex.Get(l)
	if err != nil {
		return nil, ""
	}
	name, err := htmlindex.Name(enc)
	if err != nil {
		return nil, ""
	}
	name = strings.ToLower(name)
	if name == "utf-16le" || name == "utf-16be" {
		// A UTF-16 label on a body that did not look like UTF-16 (no BOM,
		// no pattern) is a lie; ASCII-compatible reading is the safe one.
		return nil, ""
	}
	if name == "gbk" {
		return simplifiedchinese.GB18030, "gb18030"
	}
	return enc, name
}

// guessCharset runs a statistical detector on a body that declared nothing
// and is not UTF-8: the undeclared GBK, Big5, Shift-JIS or KOI8-R feed.
func guessCharset(body []byte) (encoding.Encoding, string) {
	r, err := chardet.NewTextDetector().DetectBest(textutil.Head(body, 64<<10))
	if err != nil || r == nil {
		return nil, ""
	}
	return Lookup(r.Charset)
}
