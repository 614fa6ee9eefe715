package classifier

import (
	"newswatch/news"
)

// Prepared is an article normalised once (cleaned and folded, for every
// field) so that it can be scanned again and again, by any number of
// classifiers, without repeating that work: the query preview runs a
// freshly compiled query over thousands of archived articles on every
// keystroke. A Prepared is immutable and safe for concurrent use.
type Prepared struct {
	clean   [fLead]string
	folded  [fLead][]byte
	shifts  [fLead][]shift
	leadEnd int
}

// Prepare normalises a. The result keeps copies of the texts, not a.
func Prepare(a *news.Article) *Prepared {
	p := &Prepared{}
	var cat []byte
	for i, c := range a.Categories {
		if i > 0 {
			cat = append(cat, 0x1f) // as scan: no phrase spans two categories
		}
		cat = append(cat, c...)
	}
	raw := [fLead]string{a.Title, a.Summary, a.Content, string(cat), a.URL, a.Source}
	for f := range fLead {
		clean, _ := cleanText(raw[f], nil)
		var fd folder
		fd.fold(clean, noKeys)
		p.clean[f] = clone(clean, raw[f])
		p.folded[f] = append([]byte(nil), fd.out...)
		if len(fd.shifts) > 0 {
			p.shifts[f] = append([]shift(nil), fd.shifts...)
		}
		if f == fContent {
			p.leadEnd = leadEnd(fd.out)
		}
	}
	return p
}

// clone copies s unless it is raw itself (a string the caller already
// owns and cannot change).
func clone(s, raw string) string {
	if s == raw {
		return raw
	}
	return string([]byte(s))
}

// Size is about how many bytes p holds, for bounding a cache of them.
func (p *Prepared) Size() int {
	n := 64
	for f := range fLead {
		n += len(p.clean[f]) + len(p.folded[f]) + 8*len(p.shifts[f])
	}
	return n
}

// scanPrepared is scan for a prepared article: the automaton runs over
// the folded bytes kept in p. sc must come from ppool: it borrows p's
// texts, and fold must never write into them.
func (c *Classifier) scanPrepared(p *Prepared, sc *scratch) {
	for _, pt := range sc.touched {
		sc.patCount[pt] = 0
		clear(sc.counts[int(pt)*int(numFields) : int(pt+1)*int(numFields)])
	}
	sc.touched = sc.touched[:0]
	sc.hits = sc.hits[:0]
	sc.epoch++
	if sc.epoch == 0 {
		clear(sc.cand)
		clear(sc.memo)
		sc.epoch = 1
	}
	sc.leadEnd = p.leadEnd
	a := c.ac
	trans, class, matchStart := a.trans, &a.class, a.matchStart
	for f := range fLead {
		fd := &sc.fold[f]
		sc.clean[f] = p.clean[f]
		fd.out, fd.shifts = p.folded[f], p.shifts[f]
		fd.pend = fd.pend[:0]
		st := uint32(0)
		for i, b := range fd.out {
			st = trans[st+uint32(class[b])]
			if st >= matchStart {
				fd.pend = append(fd.pend, pending{st, int32(i + 1)})
			}
		}
		for _, pd := range fd.pend {
			s := pd.state / a.stride
			for _, k := range a.outs[a.outIdx[s]:a.outIdx[s+1]] {
				c.report(sc, f, fd.out, k, int(pd.end))
			}
		}
	}
	for _, pt := range sc.touched {
		for _, t := range c.patTops[pt] {
			sc.cand[t] = sc.epoch
		}
	}
}

// TopicIndex returns the position of topic id among the compiled topics,
// or -1.
func (c *Classifier) TopicIndex(id string) int {
	for i := range c.topics {
		if c.topics[i].id == id {
			return i
		}
	}
	return -1
}

// MatchPrepared reports whether topic i (see TopicIndex) matches p, and
// its score. It allocates nothing in steady state.
func (c *Classifier) MatchPrepared(p *Prepared, i int) (bool, float64) {
	sc := c.ppool.Get().(*scratch)
	defer c.ppool.Put(sc)
	c.scanPrepared(p, sc)
	t := &c.topics[i]
	if !t.always && sc.cand[i] != sc.epoch {
		return false, 0
	}
	if !c.eval(t.query, sc) {
		return false, 0
	}
	s := c.score(t, sc)
	return s >= t.minScore, s
}

// ExplainPrepared is Explain for a prepared article.
func (c *Classifier) ExplainPrepared(p *Prepared, topic string) []Explanation {
	sc := c.ppool.Get().(*scratch)
	defer c.ppool.Put(sc)
	c.scanPrepared(p, sc)
	return c.explain(sc, topic)
}

// Title is the clean title of p, as snippets and highlights show it.
func (p *Prepared) Title() string { return p.clean[fTitle] }

// Needs returns the id of topic i (see TopicIndex) and of every topic its
// query names through topic:id, directly or through others, in config
// order: the topics a classifier must hold to decide topic i. The query
// preview compiles only those, since the scan's cost grows with the
// number of terms the automaton holds.
func (c *Classifier) Needs(i int) []string {
	trees := make([]*node, len(c.topics))
	for j := range c.topics {
		trees[j] = c.topics[j].query
	}
	need := map[int]bool{i: true}
	for _, r := range reachable(trees[i], trees) {
		need[r] = true
	}
	var out []string
	for j := range c.topics {
		if need[j] {
			out = append(out, c.topics[j].id)
		}
	}
	return out
}
