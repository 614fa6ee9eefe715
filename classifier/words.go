package classifier

import (
	"unicode/utf8"
)

// Words calls emit with each word of text as the classifier reads it:
// HTML stripped, entities decoded, NFKC, case folded, traditional
// Chinese simplified. A run of letters and digits is one word; each Han
// or kana character is a word of its own, since those scripts are
// written without spaces. At most max words are emitted (max <= 0: no
// limit), which bounds the work on a long text.
func Words(text string, max int, emit func(word string)) {
	clean, _ := cleanText(text, nil)
	var f folder
	f.fold(clean, noKeys)
	b := f.out
	n, start := 0, -1
	flush := func(end int) {
		if start >= 0 {
			emit(string(b[start:end]))
			n++
			start = -1
		}
	}
	for i := 0; i < len(b) && (max <= 0 || n < max); {
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
		}
		switch {
		case isWordRune(r):
			if start < 0 {
				start = i
			}
		case isCJK(r):
			flush(i)
			if max <= 0 || n < max {
				emit(string(b[i : i+size]))
				n++
			}
		default:
			flush(i)
		}
		i += size
	}
	if max <= 0 || n < max {
		flush(len(b))
	}
}
