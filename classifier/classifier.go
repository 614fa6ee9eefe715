// Package classifier tags articles with the topics whose queries they match.
//
// A topic is a boolean query over an article's fields (see docs/queries.md):
// terms, phrases, prefixes, AND/OR/NOT, NEAR/n, ATLEAST/n, field scopes and
// boosts, plus a minimum score computed from per-field weights. New
// compiles the terms of every topic into one Aho–Corasick automaton, so an
// article is normalised once and scanned once however many topics there
// are; the queries are then evaluated on the per-term hit counts. Every
// match carries the terms that contributed, with field, count and a
// snippet, and Explain says why a topic did or did not match.
//
// A Classifier is immutable and safe for concurrent use; per-article
// scratch space is pooled, so the scan allocates nothing in steady state.
package classifier

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"newswatch/config"
	"newswatch/news"
)

// defaultWeights are the per-field score weights of a topic that does not
// set its own: a term in the headline says more about what an article is
// about than one in the body.
var defaultWeights = map[string]float64{
	"title": 3, "lead": 2, "summary": 1, "content": 1, "category": 2, "url": 1, "source": 1,
}

// maxHits bounds the hits kept per article for NEAR and snippets; counts
// stay exact beyond it. It keeps a hostile article from growing memory.
const maxHits = 1 << 14

// Classifier matches articles against a fixed set of topics.
type Classifier struct {
	topics  []topic
	ac      *automaton
	keys    []string  // key -> its folded bytes
	keyLeft []bool    // key -> needs a word boundary before it
	keyPats [][]int32 // key -> patterns sharing its bytes
	pats    []pattern
	patTops [][]int32 // pattern -> topics that use it
	pool    sync.Pool // *scratch
	ppool   sync.Pool // *scratch for prepared articles, whose texts it only borrows
}

// pattern is a distinct searchable term: its folded bytes plus how its
// ends and case are checked.
type pattern struct {
	key        int32
	rightBound bool   // needs a word boundary after it (not a prefix)
	exact      string // non-empty: the case-sensitive form, {US}
}

type topic struct {
	id, name string
	query    *node
	minScore float64
	weights  [numFields]float64
	terms    []scoreTerm // positive terms, for score and matches
	always   bool        // may match an article with no hits at all
	hasRefs  bool        // names other topics (topic:id)
}

// New compiles every topic's query into one matcher. A parse error names
// the topic, the position and what was expected; several errors are
// joined (errors.Join) and each is a *ParseError. A query may name other
// topics (topic:id); an unknown id or a cycle of references is an error
// at the position of the reference.
func New(topics []config.Topic) (*Classifier, error) {
	c := &Classifier{}
	var errs []error
	// Parse every query first: a reference may name a topic further down.
	trees := make([]*node, len(topics))
	weights := make([][numFields]float64, len(topics))
	index := make(map[string]int, len(topics))
	for i, t := range topics {
		if _, dup := index[t.ID]; !dup {
			index[t.ID] = i
		}
		q, err := parse(t.ID, t.Query)
		if err != nil {
			errs = append(errs, err)
		}
		trees[i] = q
		for f := range numFields {
			weights[i][f] = defaultWeights[fieldNames[f]]
		}
		for name, w := range t.Weights {
			f, ok := fieldByName(name)
			if !ok || w < 0 {
				errs = append(errs, &ParseError{Topic: t.ID, Msg: fmt.Sprintf("weights: %q is not a field or has a negative weight: expected title, lead, summary, content, category, url or source with a weight >= 0", name)})
				continue
			}
			weights[i][f] = w
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if errs := resolveRefs(topics, trees, index); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	keys := map[string]int32{}
	var keyList []string
	patIDs := map[pattern]int32{}
	for i, t := range topics {
		q := trees[i]
		tp := topic{id: t.ID, name: t.Name, query: q, minScore: t.MinScore}
		tp.weights = weights[i]
		ti := int32(i)
		walk(q, func(n *node) {
			if n.kind != kTerm {
				return
			}
			folded := foldString(n.text)
			k, ok := keys[folded]
			if !ok {
				k = int32(len(keyList))
				keys[folded] = k
				keyList = append(keyList, folded)
				first, _ := utf8.DecodeRuneInString(folded)
				c.keyLeft = append(c.keyLeft, isWordRune(first))
				c.keyPats = append(c.keyPats, nil)
			}
			last, _ := utf8.DecodeLastRuneInString(folded)
			p := pattern{key: k, rightBound: !n.prefix && isWordRune(last)}
			if n.exact {
				p.exact = n.text
			}
			id, ok := patIDs[p]
			if !ok {
				id = int32(len(c.pats))
				patIDs[p] = id
				c.pats = append(c.pats, p)
				c.patTops = append(c.patTops, nil)
				c.keyPats[k] = append(c.keyPats[k], id)
			}
			n.pattern = int(id)
			if tops := c.patTops[id]; len(tops) == 0 || tops[len(tops)-1] != ti {
				c.patTops[id] = append(tops, ti)
			}
		})
		c.topics = append(c.topics, tp)
	}
	// Terms and candidacy: a topic that names another counts the terms
	// the other counts (unless it names it under NOT), and any term that
	// can wake the other can wake it.
	for i := range c.topics {
		t := &c.topics[i]
		t.terms = scoreTerms(positiveTerms(t.query, false, nil, trees))
		for _, r := range reachable(t.query, trees) {
			if r == i {
				continue
			}
			c.topics[i].hasRefs = true
			walk(trees[r], func(n *node) {
				if n.kind == kTerm && !slices.Contains(c.patTops[n.pattern], int32(i)) {
					c.patTops[n.pattern] = append(c.patTops[n.pattern], int32(i))
				}
			})
		}
	}
	c.ac = newAutomaton(keyList)
	c.keys = keyList
	empty := c.newScratch()
	for i := range c.topics {
		t := &c.topics[i]
		t.always = t.minScore <= 0 && c.eval(t.query, empty)
	}
	c.pool.New = func() any { return c.newScratch() }
	c.ppool.New = func() any { return c.newScratch() }
	return c, nil
}

// resolveRefs points every topic:id at its topic and reports unknown ids
// and cycles, each at the position of the reference.
func resolveRefs(topics []config.Topic, trees []*node, index map[string]int) []error {
	var errs []error
	for i, q := range trees {
		if q == nil {
			continue
		}
		walk(q, func(n *node) {
			if n.kind != kTopic {
				return
			}
			r, ok := index[n.text]
			if !ok {
				ids := make([]string, len(topics))
				for j, t := range topics {
					ids[j] = t.ID
				}
				errs = append(errs, &ParseError{Topic: topics[i].ID, Pos: n.pos, Msg: fmt.Sprintf("unknown topic %q: expected one of %s", n.text, strings.Join(ids, ", "))})
				return
			}
			n.ref = r
		})
	}
	if len(errs) > 0 {
		return errs
	}
	// A depth-first search from each topic; a reference back to a topic
	// on the current path closes a cycle. Each topic's own first cycle
	// is reported once.
	for i := range trees {
		if trees[i] == nil {
			continue
		}
		if ref, path := findCycle(i, trees, topics); ref != nil {
			errs = append(errs, &ParseError{Topic: topics[i].ID, Pos: ref.pos, Msg: fmt.Sprintf("topic:%s makes a cycle of topic references (%s): a topic cannot depend on itself", ref.text, path)})
		}
	}
	return errs
}

// findCycle returns the reference in topic start's own query that leads
// back to start, with the cycle spelled out, or nil.
func findCycle(start int, trees []*node, topics []config.Topic) (*node, string) {
	var refs []*node
	walk(trees[start], func(n *node) {
		if n.kind == kTopic {
			refs = append(refs, n)
		}
	})
	for _, ref := range refs {
		seen := map[int]bool{}
		var path []int
		var dfs func(int) bool
		dfs = func(at int) bool {
			path = append(path, at)
			if at == start {
				return true
			}
			if seen[at] || trees[at] == nil {
				path = path[:len(path)-1]
				return false
			}
			seen[at] = true
			found := false
			walk(trees[at], func(n *node) {
				if !found && n.kind == kTopic && dfs(n.ref) {
					found = true
				}
			})
			if !found {
				path = path[:len(path)-1]
			}
			return found
		}
		if dfs(ref.ref) {
			var b strings.Builder
			b.WriteString(topics[start].ID)
			for _, p := range path {
				b.WriteString(" -> ")
				b.WriteString(topics[p].ID)
			}
			return ref, b.String()
		}
	}
	return nil, ""
}

// reachable lists the topics q refers to, directly or through others.
func reachable(q *node, trees []*node) []int {
	var out []int
	seen := map[int]bool{}
	var visit func(*node)
	visit = func(q *node) {
		walk(q, func(n *node) {
			if n.kind == kTopic && !seen[n.ref] {
				seen[n.ref] = true
				out = append(out, n.ref)
				visit(trees[n.ref])
			}
		})
	}
	visit(q)
	return out
}

func walk(n *node, fn func(*node)) {
	fn(n)
	for _, k := range n.kids {
		walk(k, fn)
	}
}

// positiveTerms lists the leaves that count towards a match: all but those
// under an odd number of NOTs, with those of the topics n names.
func positiveTerms(n *node, negated bool, acc []*node, trees []*node) []*node {
	switch n.kind {
	case kTerm:
		if !negated {
			acc = append(acc, n)
		}
	case kTopic:
		acc = positiveTerms(trees[n.ref], negated, acc, trees)
	case kNot:
		acc = positiveTerms(n.kids[0], !negated, acc, trees)
	default:
		for _, k := range n.kids {
			acc = positiveTerms(k, negated, acc, trees)
		}
	}
	return acc
}

// scoreTerm is a distinct pattern among a topic's positive terms, with
// the union of the fields its leaves search and the largest boost: a term
// written in several clauses counts once.
type scoreTerm struct {
	pattern int
	fields  fieldSet
	boost   float64
	display string // as written, without field scope
}

func scoreTerms(leaves []*node) []scoreTerm {
	var out []scoreTerm
	idx := map[int]int{}
	for _, n := range leaves {
		b := n.boost
		if b == 0 {
			b = 1
		}
		if i, ok := idx[n.pattern]; ok {
			out[i].fields |= n.fields()
			out[i].boost = max(out[i].boost, b)
			continue
		}
		idx[n.pattern] = len(out)
		m := *n
		m.scope, m.boost = 0, 0
		out = append(out, scoreTerm{pattern: n.pattern, fields: n.fields(), boost: b, display: m.String()})
	}
	return out
}

// hit is one occurrence of a pattern, in folded offsets of its field.
type hit struct {
	pat        int32
	f          field
	start, end int32
}

// scratch is the per-article working set, reused through a sync.Pool.
type scratch struct {
	clean    [numFields]string
	cleanBuf [numFields][]byte
	fold     [numFields]folder
	catBuf   []byte
	hits     []hit
	counts   []int32 // pattern*numFields + field
	first    []int32 // pattern*numFields + field -> index of its first hit; valid where counts > 0
	patCount []int32 // pattern -> hits in any field
	touched  []int32 // patterns with patCount > 0
	cand     []uint32
	epoch    uint32
	leadEnd  int // folded content offset where the lead ends
	// memo holds, per topic, epoch<<1 | matched once a topic:id reference
	// has evaluated it for this article, so a topic named by several
	// others is evaluated once.
	memo []uint64
}

func (c *Classifier) newScratch() *scratch {
	return &scratch{
		counts:   make([]int32, len(c.pats)*int(numFields)),
		first:    make([]int32, len(c.pats)*int(numFields)),
		patCount: make([]int32, len(c.pats)),
		cand:     make([]uint32, len(c.topics)),
		memo:     make([]uint64, len(c.topics)),
	}
}

// scan normalises and scans every field of a, filling sc.
func (c *Classifier) scan(a *news.Article, sc *scratch) {
	for _, p := range sc.touched {
		sc.patCount[p] = 0
		clear(sc.counts[int(p)*int(numFields) : int(p+1)*int(numFields)])
	}
	sc.touched = sc.touched[:0]
	sc.hits = sc.hits[:0]
	sc.epoch++
	if sc.epoch == 0 { // wrapped: old stamps could look current
		clear(sc.cand)
		clear(sc.memo)
		sc.epoch = 1
	}

	sc.catBuf = sc.catBuf[:0]
	for i, cat := range a.Categories {
		if i > 0 {
			// A separator that is neither a word nor a space, so that a
			// phrase never spans two categories.
			sc.catBuf = append(sc.catBuf, 0x1f)
		}
		sc.catBuf = append(sc.catBuf, cat...)
	}
	raw := [numFields]string{a.Title, a.Summary, a.Content, unsafeString(sc.catBuf), a.URL, a.Source}
	for f := range fLead {
		sc.clean[f], sc.cleanBuf[f] = cleanText(raw[f], sc.cleanBuf[f])
		fd := &sc.fold[f]
		fd.fold(sc.clean[f], c.ac)
		if f == fContent {
			sc.leadEnd = leadEnd(fd.out)
		}
		for _, p := range fd.pend {
			st := p.state / c.ac.stride
			for _, k := range c.ac.outs[c.ac.outIdx[st]:c.ac.outIdx[st+1]] {
				c.report(sc, f, fd.out, k, int(p.end))
			}
		}
	}
	for _, p := range sc.touched {
		for _, t := range c.patTops[p] {
			sc.cand[t] = sc.epoch
		}
	}
}

// report checks the word boundaries (and case) of key ending at end and
// records a hit for each pattern that accepts it.
func (c *Classifier) report(sc *scratch, f field, text []byte, key int32, end int) {
	start := end - int(c.ac.keyLens[key])
	if c.keyLeft[key] && isWordBefore(text[:start]) {
		return
	}
	for _, p := range c.keyPats[key] {
		pt := &c.pats[p]
		if pt.rightBound && isWordAfter(text[end:]) {
			continue
		}
		if pt.exact != "" && !sameCase(pt.exact, sc.clean[f], sc.fold[f].shifts, start, end) {
			continue
		}
		if sc.patCount[p] == 0 {
			sc.touched = append(sc.touched, p)
		}
		sc.patCount[p]++
		row := int(p) * int(numFields)
		if sc.counts[row+int(f)] == 0 {
			sc.first[row+int(f)] = int32(len(sc.hits))
		}
		sc.counts[row+int(f)]++
		if f == fSummary || (f == fContent && start < sc.leadEnd) {
			if sc.counts[row+int(fLead)] == 0 {
				sc.first[row+int(fLead)] = int32(len(sc.hits))
			}
			sc.counts[row+int(fLead)]++
		}
		if len(sc.hits) < maxHits {
			sc.hits = append(sc.hits, hit{pat: p, f: f, start: int32(start), end: int32(end)})
		}
	}
}

// leadEnd returns the offset in folded text after its first leadWords
// words (each Han or kana character counting as one).
func leadEnd(text []byte) int {
	words, inWord := 0, false
	for i := 0; i < len(text); {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(text[i:])
		}
		switch {
		case r < utf8.RuneSelf:
			if asciiWord[r] {
				if !inWord {
					words++
				}
				inWord = true
			} else {
				inWord = false
			}
		case isCJK(r):
			words++
			inWord = false
		case isWordRune(r):
			if !inWord {
				words++
			}
			inWord = true
		default:
			inWord = false
		}
		if words > leadWords {
			return i
		}
		i += size
	}
	return len(text)
}

// cleanSpan maps a folded span to the clean text it came from.
func cleanSpan(clean string, shifts []shift, start, end int) (int, int) {
	cs := cleanOffset(shifts, start)
	ce := cs
	if end > start {
		ce = cleanOffset(shifts, end-1) + 1
	}
	for ce < len(clean) && !utf8.RuneStart(clean[ce]) {
		ce++
	}
	return min(cs, len(clean)), min(ce, len(clean))
}

// sameCase reports whether the clean text behind a folded hit has the
// cased letters of want, in the same case ("U.S." and "US" for {US}, not
// "us").
func sameCase(want, clean string, shifts []shift, start, end int) bool {
	cs, ce := cleanSpan(clean, shifts, start, end)
	got := clean[cs:ce]
	for {
		var w, g rune
		want, w = nextCased(want)
		got, g = nextCased(got)
		if w != g {
			return false
		}
		if w < 0 {
			return true
		}
	}
}

func nextCased(s string) (string, rune) {
	for i, r := range s {
		if unicode.IsUpper(r) || unicode.IsLower(r) {
			return s[i+utf8.RuneLen(r):], r
		}
	}
	return "", -1
}

// count is the number of hits of term leaf n in its fields.
func (c *Classifier) count(n *node, sc *scratch) int {
	if sc.patCount[n.pattern] == 0 {
		return 0 // the common case: most terms are absent from an article
	}
	row := sc.counts[n.pattern*int(numFields) : (n.pattern+1)*int(numFields)]
	total := 0
	for fs := n.fields(); fs != 0; fs &= fs - 1 {
		total += int(row[bits.TrailingZeros8(uint8(fs))])
	}
	return total
}

// countSet sums the hits of a term set (a term or an OR of terms).
func (c *Classifier) countSet(n *node, sc *scratch) int {
	if n.kind == kTerm {
		return c.count(n, sc)
	}
	total := 0
	for _, k := range n.kids {
		total += c.countSet(k, sc)
	}
	return total
}

func (c *Classifier) eval(n *node, sc *scratch) bool {
	switch n.kind {
	case kTerm:
		return c.count(n, sc) > 0
	case kAnd:
		for _, k := range n.kids {
			if !c.eval(k, sc) {
				return false
			}
		}
		return true
	case kOr:
		for _, k := range n.kids {
			if c.eval(k, sc) {
				return true
			}
		}
		return false
	case kNot:
		return !c.eval(n.kids[0], sc)
	case kAtLeast:
		return c.countSet(n.kids[0], sc) >= n.n
	case kNear:
		return c.near(n, sc)
	case kTopic:
		return c.topicMatches(n.ref, sc)
	}
	return false
}

// topicMatches reports whether topic i matches the scanned article: its
// query holds and its score reaches its min_score.
func (c *Classifier) topicMatches(i int, sc *scratch) bool {
	stamp := uint64(sc.epoch) << 1
	if sc.epoch != 0 && sc.memo[i]&^1 == stamp {
		return sc.memo[i]&1 == 1
	}
	t := &c.topics[i]
	ok := (t.always || sc.cand[i] == sc.epoch) && c.eval(t.query, sc) && c.score(t, sc) >= t.minScore
	if sc.epoch != 0 {
		sc.memo[i] = stamp
		if ok {
			sc.memo[i] |= 1
		}
	}
	return ok
}

// inSet reports whether hit h belongs to term set n.
func inSet(n *node, h *hit, sc *scratch) bool {
	if n.kind == kTerm {
		if int(h.pat) != n.pattern {
			return false
		}
		fs := n.fields()
		return fs.has(h.f) || (fs.has(fLead) && inLead(h, sc))
	}
	for _, k := range n.kids {
		if inSet(k, h, sc) {
			return true
		}
	}
	return false
}

func inLead(h *hit, sc *scratch) bool {
	return h.f == fSummary || (h.f == fContent && int(h.start) < sc.leadEnd)
}

// near reports whether a hit of the left set and one of the right set are
// within n.n words in one field. Hits come ordered by field and end, so
// comparing each hit with the latest hit of the other side finds the
// closest pair in one pass.
func (c *Classifier) near(n *node, sc *scratch) bool {
	left, right := n.kids[0], n.kids[1]
	if c.countSet(left, sc) == 0 || c.countSet(right, sc) == 0 {
		return false
	}
	lastL, lastR := -1, -1
	cur := field(numFields)
	for i := range sc.hits {
		h := &sc.hits[i]
		if h.f != cur {
			cur, lastL, lastR = h.f, -1, -1
		}
		inL, inR := inSet(left, h, sc), inSet(right, h, sc)
		text := sc.fold[h.f].out
		if inR && lastL >= 0 && wordGap(text, &sc.hits[lastL], h, n.n) <= n.n {
			return true
		}
		if inL && !n.ordered && lastR >= 0 && wordGap(text, &sc.hits[lastR], h, n.n) <= n.n {
			return true
		}
		if inL {
			lastL = i
		}
		if inR {
			lastR = i
		}
	}
	return false
}

// wordGap counts the words between an earlier hit a and a later hit b,
// up to limit+1; overlapping hits are 0 apart. Each Han or kana character
// counts as a word, since those scripts do not separate words with spaces.
func wordGap(text []byte, a, b *hit, limit int) int {
	if b.start <= a.end {
		return 0
	}
	words, inWord := 0, false
	for i := int(a.end); i < int(b.start) && words <= limit; {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(text[i:])
		}
		i += size
		switch {
		case isCJK(r):
			words++
			inWord = false
		case isWordRune(r):
			if !inWord {
				words++
			}
			inWord = true
		default:
			inWord = false
		}
	}
	return words
}

// score adds up the weighted counts of a topic's positive terms.
func (c *Classifier) score(t *topic, sc *scratch) float64 {
	s := 0.0
	for i := range t.terms {
		st := &t.terms[i]
		if sc.patCount[st.pattern] == 0 {
			continue
		}
		row := sc.counts[st.pattern*int(numFields) : (st.pattern+1)*int(numFields)]
		for f := range numFields {
			if row[f] > 0 && st.fields.has(f) {
				s += float64(row[f]) * t.weights[f] * st.boost
			}
		}
	}
	return s
}

// Classify returns the topics the article matches, in config order, each
// with its score and the terms that contributed. Safe for concurrent use.
func (c *Classifier) Classify(a *news.Article) []news.TopicMatch {
	sc := c.pool.Get().(*scratch)
	defer c.pool.Put(sc)
	c.scan(a, sc)
	var out []news.TopicMatch
	for i := range c.topics {
		t := &c.topics[i]
		if !t.always && sc.cand[i] != sc.epoch {
			continue
		}
		if !c.eval(t.query, sc) {
			continue
		}
		s := c.score(t, sc)
		if s < t.minScore {
			continue
		}
		out = append(out, news.TopicMatch{Topic: t.id, Score: s, Matches: c.matches(t, sc)})
	}
	return out
}

// matches lists, for each positive term with hits, one Match per field.
func (c *Classifier) matches(t *topic, sc *scratch) []news.Match {
	var ms []news.Match
	for i := range t.terms {
		st := &t.terms[i]
		if sc.patCount[st.pattern] == 0 {
			continue
		}
		row := sc.counts[st.pattern*int(numFields) : (st.pattern+1)*int(numFields)]
		for f := range numFields {
			if row[f] == 0 || !st.fields.has(f) {
				continue
			}
			ms = append(ms, news.Match{
				Term:    st.display,
				Field:   fieldNames[f],
				Count:   int(row[f]),
				Snippet: c.snippet(sc, st.pattern, f),
			})
		}
	}
	return ms
}

// snippetRadius is how many characters of context a snippet keeps on each
// side of the hit.
const snippetRadius = 70

// snippet cuts about 160 characters of clean text around the first hit of
// pattern p in field f, with the hit marked « ».
func (c *Classifier) snippet(sc *scratch, p int, f field) string {
	if i := int(sc.first[p*int(numFields)+int(f)]); i < len(sc.hits) {
		h := &sc.hits[i]
		clean := sc.clean[h.f]
		cs, ce := cleanSpan(clean, sc.fold[h.f].shifts, int(h.start), int(h.end))
		// Mark the whole word a prefix matched ("opioid*" in "opioids").
		for ce < len(clean) {
			r, size := utf8.DecodeRuneInString(clean[ce:])
			if !isWordRune(unicode.ToLower(r)) {
				break
			}
			ce += size
		}
		from, to := cs, ce
		for n := 0; n < snippetRadius && from > 0; n++ {
			_, size := utf8.DecodeLastRuneInString(clean[:from])
			from -= size
		}
		for n := 0; n < snippetRadius && to < len(clean); n++ {
			_, size := utf8.DecodeRuneInString(clean[to:])
			to += size
		}
		// Cut at spaces rather than inside words, when there is one nearby.
		if from > 0 {
			if j := strings.IndexAny(clean[from:cs], " \n\t"); j >= 0 && j < 20 {
				from += j + 1
			}
		}
		if to < len(clean) {
			if j := strings.LastIndexAny(clean[ce:to], " \n\t"); j >= 0 && to-(ce+j) < 20 {
				to = ce + j
			}
		}
		var b strings.Builder
		b.Grow(to - from + 16)
		if from > 0 {
			b.WriteString("…")
		}
		oneLine(&b, clean[from:cs])
		b.WriteString("«")
		oneLine(&b, clean[cs:ce])
		b.WriteString("»")
		oneLine(&b, clean[ce:to])
		if to < len(clean) {
			b.WriteString("…")
		}
		return b.String()
	}
	return "" // beyond maxHits
}

// oneLine writes s to b with runs of white space (and the category
// separator) turned into single spaces.
func oneLine(b *strings.Builder, s string) {
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == 0x1f {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
}

// Topics returns the ids of the compiled topics, in config order.
func (c *Classifier) Topics() []string {
	ids := make([]string, len(c.topics))
	for i, t := range c.topics {
		ids[i] = t.id
	}
	return ids
}

// sortedFields lists the names of fields in s.
func sortedFields(s fieldSet) []string {
	var names []string
	for f := range numFields {
		if s.has(f) {
			names = append(names, fieldNames[f])
		}
	}
	sort.Strings(names)
	return names
}
