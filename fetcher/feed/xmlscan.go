package feed

import "bytes"

// xmlStats is what a linear scan of an XML body learns about its shape,
// before the body is handed to gofeed. The scan reads markup the way the
// XML decoder does (quoted attribute values, comments, CDATA sections,
// processing instructions, DOCTYPE with an internal subset), so that a '>'
// or "/>" inside any of them cannot hide an element.
type xmlStats struct {
	depth     int // deepest element nesting
	fragments int // most text fragments in one element (see maxTextFragments)
	elements  int // start tags (an empty-element tag counts once)
	attrs     int // attributes over all start tags

	// items are the item (RSS) or entry (Atom) elements that are children
	// of the first one's parent, in order; unclosed ones are left out.
	items []xmlSpan
	// open are the start tags of the first item's ancestors, outermost
	// first: with the matching end tags they make a document of any run
	// of items.
	open []xmlTag
}

// xmlSpan is one element of the body: body[start:end], holding elements
// elements (itself included) and attrs attributes.
type xmlSpan struct {
	start, end      int
	elements, attrs int
}

// xmlTag is a start tag, body[start:end], whose name ends at nameEnd.
type xmlTag struct {
	start, end, nameEnd int
}

func (t xmlTag) name(b []byte) []byte { return b[t.start+1 : t.nameEnd] }

// maxTrackedDepth is how deep the scan remembers start tags: items are at
// depth 2 (Atom, RSS 1.0) or 3 (RSS 2.0).
const maxTrackedDepth = 4

// scanXML scans b. It does not validate: on malformed input its counts
// are still upper bounds of what the (non-strict) decoder builds, since an
// end tag never closes fewer elements there than here.
func scanXML(b []byte) xmlStats {
	var st xmlStats
	var stack []xmlTag // open elements up to maxTrackedDepth
	d, cur := 0, 0
	itemDepth, itemParent := 0, -1
	var item *xmlSpan // the item being read, if any
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
			i = skipDecl(b, i+2)
		case len(rest) > 1 && rest[1] == '/':
			cur = 0
			i = skipPast(b, i+2, []byte(">"))
			if d == 0 {
				break
			}
			if item != nil && d == itemDepth {
				item.end = i
				st.addItem(*item)
				item = nil
			}
			d--
			if d < len(stack) {
				stack = stack[:d]
			}
		default:
			cur = 0
			end, name, attrs, empty := scanStartTag(b, i)
			st.elements++
			st.attrs += attrs
			if item != nil {
				item.elements++
				item.attrs += attrs
			}
			d++
			st.depth = max(st.depth, d)
			parent := -1
			if d >= 2 && d-2 < len(stack) {
				parent = stack[d-2].start
			}
			if item == nil && (d == 2 || d == 3) && isItemName(name) &&
				(itemDepth == 0 || d == itemDepth && parent == itemParent) {
				if itemDepth == 0 {
					itemDepth, itemParent = d, parent
					st.open = append([]xmlTag(nil), stack[:d-1]...)
				}
				item = &xmlSpan{start: i, elements: 1, attrs: attrs}
			}
			if d <= maxTrackedDepth {
				stack = append(stack[:d-1], xmlTag{start: i, end: end, nameEnd: i + 1 + len(name)})
			}
			i = end
			if empty {
				if item != nil && d == itemDepth {
					item.end = i
					st.addItem(*item)
					item = nil
				}
				d--
				if d < len(stack) {
					stack = stack[:d]
				}
			}
		}
		st.fragments = max(st.fragments, cur)
	}
	return st
}

// addItem records an item, up to one more than maxItems: that is enough
// to refuse the feed, and a record per item of a million would cost more
// than the feed.
func (st *xmlStats) addItem(it xmlSpan) {
	if len(st.items) <= maxItems {
		st.items = append(st.items, it)
	}
}

// isItemName reports whether an element name is item or entry, with any
// namespace prefix.
func isItemName(name []byte) bool {
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	return string(name) == "item" || string(name) == "entry"
}

// scanStartTag reads the start tag at b[i] ('<'). It returns the index
// just past it, the element name, the number of attributes (with or
// without values, quoted or not, as the non-strict decoder takes them)
// and whether it is an empty-element tag.
func scanStartTag(b []byte, i int) (end int, name []byte, attrs int, empty bool) {
	k := i + 1
	for k < len(b) && !isSpace(b[k]) && b[k] != '>' && b[k] != '/' {
		k++
	}
	name = b[i+1 : k]
	for k < len(b) {
		c := b[k]
		switch {
		case isSpace(c):
			k++
		case c == '>':
			return k + 1, name, attrs, false
		case c == '/':
			if k+1 < len(b) && b[k+1] == '>' {
				return k + 2, name, attrs, true
			}
			k++
		case c == '"' || c == '\'':
			// A value without a name; skip it whole.
			k = skipPast(b, k+1, []byte{c})
		default:
			// An attribute: name, then optionally = and a value.
			attrs++
			for k < len(b) && !isSpace(b[k]) && b[k] != '=' && b[k] != '>' && b[k] != '/' {
				k++
			}
			for k < len(b) && isSpace(b[k]) {
				k++
			}
			if k < len(b) && b[k] == '=' {
				k++
				for k < len(b) && isSpace(b[k]) {
					k++
				}
				if k < len(b) && (b[k] == '"' || b[k] == '\'') {
					k = skipPast(b, k+1, []byte{b[k]})
				} else {
					for k < len(b) && !isSpace(b[k]) && b[k] != '>' {
						k++
					}
				}
			}
		}
	}
	return len(b), name, attrs, false
}

// skipDecl skips a markup declaration (<!DOCTYPE ...>, <!ENTITY ...>)
// whose body starts at b[i]: quoted strings, an internal subset in [...]
// and comments in it may all hold '>'.
func skipDecl(b []byte, i int) int {
	brackets := 0
	for i < len(b) {
		switch c := b[i]; {
		case c == '"' || c == '\'':
			i = skipPast(b, i+1, []byte{c})
		case bytes.HasPrefix(b[i:], commentOpen):
			i = skipPast(b, i+len(commentOpen), commentClose)
		case c == '[':
			brackets++
			i++
		case c == ']':
			brackets = max(brackets-1, 0)
			i++
		case c == '>' && brackets == 0:
			return i + 1
		default:
			i++
		}
	}
	return len(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
