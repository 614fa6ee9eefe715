package classifier

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Vocab numbers the words of prepared articles, so that a query can rule
// out, without scanning them, the articles that hold none of its terms:
// the query preview runs each keystroke's query over thousands of
// articles, most of which name none of its terms. A word is a maximal
// run of word characters of the folded text, or one Han or kana
// character. A Vocab only grows; it is not safe for concurrent use.
type Vocab struct {
	ids    map[string]uint32
	words  []string
	sorted []uint32 // ids in the order of their words
	fresh  []uint32 // ids added since sorted was last merged
	mark   []uint64 // scratch of Filter
	bytes  int      // estimated memory, see Bytes
}

// vocabEntryBytes is the memory a word costs besides its bytes: its map
// slot (string header and id, with the map's spare room), its entries in
// words, sorted and fresh (with their spare capacity), and its word of a
// filter's marks. TestVocabBytesIsAnUpperBound measures it: 67 to 94
// bytes, depending on how full the map is.
const vocabEntryBytes = 104

// allocSize is at least the heap a string of n bytes takes: the
// allocator's size classes step by 16 bytes up to 256, and by at most an
// eighth beyond.
func allocSize(n int) int {
	switch {
	case n <= 8:
		return 8
	case n <= 256:
		return (n + 15) &^ 15
	default:
		return n + n/8 + 64
	}
}

// NewVocab returns an empty vocabulary.
func NewVocab() *Vocab { return &Vocab{ids: map[string]uint32{}} }

// Len is the number of distinct words seen.
func (v *Vocab) Len() int { return len(v.words) }

// Bytes estimates the memory v holds: a vocabulary of many rare words
// (hostile or just varied text) can outweigh the texts it numbers.
func (v *Vocab) Bytes() int { return v.bytes }

// Words adds the words of p and returns p's distinct word ids, sorted.
func (v *Vocab) Words(p *Prepared) []uint32 {
	var out []uint32
	for f := range fLead {
		text := p.folded[f]
		for i := 0; i < len(text); {
			r, size := utf8.DecodeRune(text[i:])
			switch {
			case isCJK(r):
				out = append(out, v.id(text[i:i+size]))
				i += size
			case isWordRune(r):
				j := i + size
				for j < len(text) {
					r, n := utf8.DecodeRune(text[j:])
					if !isWordRune(r) {
						break
					}
					j += n
				}
				out = append(out, v.id(text[i:j]))
				i = j
			default:
				i += size
			}
		}
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

func (v *Vocab) id(w []byte) uint32 {
	if id, ok := v.ids[string(w)]; ok { // no allocation for a known word
		return id
	}
	id := uint32(len(v.words))
	s := string(w)
	v.bytes += allocSize(len(s)) + vocabEntryBytes
	v.ids[s] = id
	v.words = append(v.words, s)
	v.fresh = append(v.fresh, id)
	return id
}

// sort merges the words added since the last call into v.sorted.
func (v *Vocab) sort() {
	if len(v.fresh) == 0 {
		return
	}
	byWord := func(a, b uint32) int { return strings.Compare(v.words[a], v.words[b]) }
	slices.SortFunc(v.fresh, byWord)
	merged := make([]uint32, 0, len(v.sorted)+len(v.fresh))
	i, j := 0, 0
	for i < len(v.sorted) && j < len(v.fresh) {
		if byWord(v.sorted[i], v.fresh[j]) <= 0 {
			merged = append(merged, v.sorted[i])
			i++
		} else {
			merged = append(merged, v.fresh[j])
			j++
		}
	}
	merged = append(append(merged, v.sorted[i:]...), v.fresh[j:]...)
	v.sorted, v.fresh = merged, v.fresh[:0]
}

// WordFilter tells, from an article's word ids alone, whether a topic
// may match it.
type WordFilter struct {
	mark []uint64 // word id -> the clauses it satisfies
	need uint64   // clauses an article must satisfy
}

// May reports whether an article with the word ids ids (from the Vocab
// the filter was made with) may match: false only when the topic
// cannot match it.
func (wf *WordFilter) May(ids []uint32) bool {
	if wf == nil {
		return true
	}
	var got uint64
	for _, id := range ids {
		if int(id) >= len(wf.mark) {
			// A word numbered after the filter was made may be one a
			// prefix term names: not ruled out.
			return true
		}
		if got |= wf.mark[id]; got == wf.need {
			return true
		}
	}
	return false
}

// maxClauses bounds the clauses a WordFilter checks (one bit each); any
// subset of necessary clauses is still necessary.
const maxClauses = 64

// Filter returns the word filter of topic i (see TopicIndex) over v, or
// nil when words cannot rule an article out (the topic may match an
// article with no hits, such as NOT x). The filter is valid for the
// articles v has numbered so far, and until the next call to Filter on v
// (it shares v's scratch space).
func (c *Classifier) Filter(i int, v *Vocab) *WordFilter {
	t := &c.topics[i]
	if t.always {
		return nil
	}
	cls := c.clauses(t.query)
	if len(cls) == 0 {
		return nil
	}
	if len(cls) > maxClauses {
		cls = cls[:maxClauses]
	}
	v.sort()
	if cap(v.mark) < len(v.words) {
		v.mark = make([]uint64, len(v.words), len(v.words)+len(v.words)/4)
	}
	v.mark = v.mark[:len(v.words)]
	clear(v.mark)
	wf := &WordFilter{mark: v.mark}
	for j, cl := range cls {
		bit := uint64(1) << j
		wf.need |= bit
		for _, p := range cl {
			if !c.markPattern(p, v, bit) {
				wf.need &^= bit // a term words cannot rule out
				break
			}
		}
	}
	if wf.need == 0 {
		return nil
	}
	return wf
}

// clauses returns sets of patterns such that n can hold only if, for
// every set, one of its patterns has a hit. Empty: none known.
func (c *Classifier) clauses(n *node) [][]int {
	switch n.kind {
	case kTerm:
		return [][]int{{n.pattern}}
	case kAnd, kNear:
		var out [][]int
		for _, k := range n.kids {
			out = append(out, c.clauses(k)...)
		}
		return out
	case kOr:
		// One necessary set of each alternative, joined.
		var union []int
		for _, k := range n.kids {
			cl := c.clauses(k)
			if len(cl) == 0 {
				return nil
			}
			union = append(union, slices.MinFunc(cl, func(a, b []int) int { return len(a) - len(b) })...)
		}
		return [][]int{union}
	case kAtLeast: // n is at least 1
		return c.clauses(n.kids[0])
	case kTopic:
		return c.clauses(c.topics[n.ref].query)
	}
	return nil // NOT: absence needs no word
}

// markPattern sets bit on the words a hit of pattern p must lie in, and
// reports false if there is no such word: a key that starts with neither
// a word character nor a Han or kana character.
func (c *Classifier) markPattern(p int, v *Vocab, bit uint64) bool {
	pt := &c.pats[p]
	key := c.keys[pt.key]
	r, size := utf8.DecodeRuneInString(key)
	switch {
	case isCJK(r):
		if id, ok := v.ids[key[:size]]; ok {
			v.mark[id] |= bit
		}
		return true
	case !isWordRune(r):
		return false
	}
	// A hit of a key that starts with a word character begins at a word
	// start (report checks it): the text has the key's first word, or,
	// when the key is one word and may be followed by more letters (a
	// prefix), a word that begins with it.
	j := size
	for j < len(key) {
		r, n := utf8.DecodeRuneInString(key[j:])
		if !isWordRune(r) {
			break
		}
		j += n
	}
	if j < len(key) || pt.rightBound {
		if id, ok := v.ids[key[:j]]; ok {
			v.mark[id] |= bit
		}
		return true
	}
	k, _ := slices.BinarySearchFunc(v.sorted, key, func(id uint32, key string) int { return strings.Compare(v.words[id], key) })
	for ; k < len(v.sorted) && strings.HasPrefix(v.words[v.sorted[k]], key); k++ {
		v.mark[v.sorted[k]] |= bit
	}
	return true
}
