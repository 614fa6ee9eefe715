package classifier

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"

	"newswatch/internal/htmltext"
)

// Text goes through two stages before it is scanned:
//
//  1. clean: HTML tags stripped, entities decoded (htmltext.Strip),
//     Unicode NFKC. The result keeps its case and is what snippets are cut
//     from. Plain NFKC text (the common case) passes through without a
//     copy.
//  2. fold: case folded, curly quotes and dashes folded, hyphens and runs of
//     white space made one space, Traditional Chinese characters mapped to
//     Simplified, and dotted initialisms (U.S., U.K.) written without dots.
//     Query terms are folded by the same function, so both sides agree.
//
// The fold keeps a sparse map from folded offsets back to clean offsets
// (one entry each time the two drift apart), so that a hit can be shown in
// the original text without a per-byte table.

// shift records that from folded offset f on, clean = folded + d.
type shift struct{ f, d int32 }

// cleanText strips tags, decodes entities and applies NFKC. buf is scratch
// space; the result may alias s or buf.
func cleanText(s string, buf []byte) (string, []byte) {
	inBuf := false
	if strings.IndexByte(s, '<') >= 0 || strings.IndexByte(s, '&') >= 0 {
		buf = htmltext.Strip(buf[:0], s)
		s = unsafeString(buf)
		inBuf = true
	}
	if !isNFKC(s) {
		var out []byte
		if inBuf {
			// s lives in buf: normalise into fresh space behind it.
			n := len(buf)
			buf = norm.NFKC.AppendString(buf, s)
			out = buf[n:]
		} else {
			buf = norm.NFKC.AppendString(buf[:0], s)
			out = buf
		}
		s = unsafeString(out)
	}
	return s, buf
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use (scratch buffers change only between
// articles).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// isNFKC reports whether s is already in NFKC. ASCII never changes and
// never combines with what precedes it, so only each run of non-ASCII
// bytes, with the byte before it, needs the normaliser's check; the ASCII
// between runs is skipped eight bytes at a time.
func isNFKC(s string) bool {
	for i := 0; i < len(s); {
		for i+8 <= len(s) && (s[i]|s[i+1]|s[i+2]|s[i+3]|s[i+4]|s[i+5]|s[i+6]|s[i+7])&0x80 == 0 {
			i += 8
		}
		if i == len(s) {
			break
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= utf8.RuneSelf {
			j++
		}
		if seg := s[max(i-1, 0):j]; norm.NFKC.QuickSpanString(seg) < len(seg) {
			return false
		}
		i = j
	}
	return true
}

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// asciiFold maps each ASCII byte to its folded form: letters to lower case,
// every kind of white space and the hyphen to a space.
var asciiFold = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c + 32)
	}
	for _, c := range "\t\n\v\f\r-" {
		t[c] = ' '
	}
	return t
}()

// asciiWord marks the ASCII bytes that are part of a word after folding.
var asciiWord = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	return t
}()

// foldRune folds one non-ASCII rune.
func foldRune(r rune) rune {
	switch r {
	case '‘', '’', '‚', '‛', '′', '`', '´', 'ʼ':
		return '\''
	case '“', '”', '„', '‟', '″', '«', '»':
		return '"'
	case '‐', '‑', '‒', '–', '—', '―', '−', '\u00a0', '\u2007', '\u202f', '\u3000', '\u2028', '\u2029', '\u0085':
		return ' '
	case '\u00ad', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return -1 // invisible: dropped
	}
	if s, ok := tradToSimp[r]; ok {
		return s
	}
	if unicode.IsSpace(r) {
		return ' '
	}
	return unicode.ToLower(r)
}

// folder is reusable scratch for folding one field.
type folder struct {
	out    []byte
	shifts []shift
	// pend lists where the automaton given to fold reached a state with
	// outputs; the caller checks them once the whole text is folded, when
	// the character after each hit is known.
	pend []pending
}

// pending is an automaton state with outputs, reached at folded offset end.
type pending struct {
	state uint32
	end   int32
}

// noKeys is an automaton that never matches, for folding without scanning.
var noKeys = newAutomaton(nil)

// foldStop marks the bytes that leave fold's fast path: non-ASCII, white
// space other than ' ', the hyphen (both become a single space) and the
// dot (initialisms). A single ' ' stays on the fast path; a second one in
// a row leaves it.
var foldStop = func() (t [256]bool) {
	for c := 0x80; c < 256; c++ {
		t[c] = true
	}
	for _, c := range "\t\n\v\f\r-." {
		t[c] = true
	}
	return t
}()

// fold folds s into f.out, replacing its previous content, and runs a
// over the folded bytes as they are written: one pass over the text for
// both, so that the automaton's table lookups overlap the folding work.
func (f *folder) fold(s string, a *automaton) {
	trans, class, matchStart := a.trans, &a.class, a.matchStart
	st := uint32(0)
	f.pend = f.pend[:0]
	// Folding never more than triples the length (an invalid byte becomes
	// the three-byte U+FFFD; a lower-case form is at most one byte longer
	// than a two-byte upper-case one), so one size check up front lets
	// the loops write without growing.
	if need := 3*len(s) + 8; cap(f.out) < need {
		f.out = make([]byte, need)
	}
	buf := f.out[:cap(f.out)]
	n := 0
	f.shifts = f.shifts[:0]
	d := int32(0) // clean offset - folded offset, as of the last shift
	mark := func(i int) {
		if nd := int32(i - n); nd != d {
			d = nd
			f.shifts = append(f.shifts, shift{int32(n), nd})
		}
	}
	for i := 0; i < len(s); {
		// Fast path: a run of ASCII that folds byte for byte.
		if !foldStop[s[i]] && !(s[i] == ' ' && (n == 0 || buf[n-1] == ' ')) {
			mark(i)
			for i < len(s) {
				c := s[i]
				if foldStop[c] || (c == ' ' && buf[n-1] == ' ') {
					break
				}
				fc := asciiFold[c]
				buf[n] = fc
				n++
				i++
				st = trans[st+uint32(class[fc])]
				if st >= matchStart {
					f.pend = append(f.pend, pending{st, int32(n)})
				}
			}
			continue
		}
		n0 := n
		space := n == 0 || buf[n-1] == ' ' // collapse leading white space too
		c := s[i]
		var r rune
		size := 1
		switch {
		case c == '.':
			// "U.S." -> "us": the letter before the dot is already out.
			if i > 0 && isASCIILetter(s[i-1]) && n > 0 && buf[n-1] == asciiFold[s[i-1]] && !isWordBefore(buf[:n-1]) {
				if l := initialism(s[i-1:]); l > 0 {
					for j := i + 1; j < i-1+l; j++ {
						if s[j] != '.' {
							mark(j)
							buf[n] = asciiFold[s[j]]
							n++
						}
					}
					i += l - 1
					st = f.feed(a, buf, n0, n, st)
					continue
				}
			}
			r = '.'
		case c < utf8.RuneSelf:
			r = rune(asciiFold[c]) // white space or hyphen: ' '
		default:
			r, size = utf8.DecodeRuneInString(s[i:])
			r = foldRune(r)
		}
		switch {
		case r < 0: // dropped
		case r == ' ':
			if !space {
				mark(i)
				buf[n] = ' '
				n++
			}
		default:
			mark(i)
			n += utf8.EncodeRune(buf[n:], r)
		}
		i += size
		st = f.feed(a, buf, n0, n, st)
	}
	// Anything past the end maps to the end of the clean text.
	mark(len(s))
	f.out = buf[:n]
}

// feed runs the automaton over buf[from:to], the bytes the slow path of
// fold just wrote.
func (f *folder) feed(a *automaton, buf []byte, from, to int, st uint32) uint32 {
	for j := from; j < to; j++ {
		st = a.trans[st+uint32(a.class[buf[j]])]
		if st >= a.matchStart {
			f.pend = append(f.pend, pending{st, int32(j + 1)})
		}
	}
	return st
}

// initialism returns the length of a dotted initialism at the start of s
// ("U.S.", "u.s.a", "U.K.") or 0: single letters each followed by a dot,
// at least two letters, not followed by another letter or digit.
func initialism(s string) int {
	i, letters := 0, 0
	for i+1 < len(s) && isASCIILetter(s[i]) && s[i+1] == '.' {
		letters++
		i += 2
		if i < len(s) && isASCIILetter(s[i]) && (i+1 == len(s) || !isASCIIWordByte(s[i+1])) {
			// final letter without a dot: "U.S-China"
			if i+1 < len(s) && s[i+1] == '.' {
				continue
			}
			return i + 1
		}
	}
	if letters < 2 || (i < len(s) && isASCIIWordByte(s[i])) {
		return 0
	}
	return i
}

func isASCIIWordByte(c byte) bool { return c < utf8.RuneSelf && asciiWord[asciiFold[c]] }

// isWordBefore reports whether folded text b ends in a word character.
func isWordBefore(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if c := b[len(b)-1]; c < utf8.RuneSelf {
		return asciiWord[c]
	}
	r, _ := utf8.DecodeLastRune(b)
	return isWordRune(r)
}

// isWordAfter reports whether folded text b starts with a word character.
func isWordAfter(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if c := b[0]; c < utf8.RuneSelf {
		return asciiWord[c]
	}
	r, _ := utf8.DecodeRune(b)
	return isWordRune(r)
}

// isWordRune reports whether r takes part in word boundaries. Scripts
// written without spaces (Han, kana) do not: a Chinese term matches inside
// a run of Chinese text, and a Latin term next to Chinese text is at a
// boundary.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiWord[r]
	}
	if isCJK(r) {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// cleanOffset maps an offset in folded text back to the clean text.
func cleanOffset(shifts []shift, fpos int) int {
	i := sort.Search(len(shifts), func(i int) bool { return int(shifts[i].f) > fpos })
	if i == 0 {
		return fpos
	}
	return fpos + int(shifts[i-1].d)
}

// foldString folds a query term; it shares the article's rules.
func foldString(s string) string {
	s, _ = cleanText(s, nil)
	var f folder
	f.fold(s, noKeys)
	return strings.TrimSpace(string(f.out))
}
