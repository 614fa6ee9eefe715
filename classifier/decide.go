package classifier

import "newswatch/news"

// Decided says which clause of a topic's query decided its verdict on a:
// for a match, the query cut down to the alternatives that held (every
// OR keeps only its kids that were true); for a miss, the clause that
// failed, as Explain says it. ok is false for an unknown topic.
func (c *Classifier) Decided(a *news.Article, topic string) (matched bool, clause string, ok bool) {
	for _, ex := range c.Explain(a, topic) {
		if ex.Topic != topic {
			continue
		}
		if !ex.Matched {
			return false, ex.Failed, true
		}
		sc := c.pool.Get().(*scratch)
		defer c.pool.Put(sc)
		c.scan(a, sc)
		for i := range c.topics {
			if t := &c.topics[i]; t.id == topic {
				return true, c.held(t.query, sc).String(), true
			}
		}
	}
	return false, "", false
}

// held is n with every OR cut to the kids that hold; n must hold.
func (c *Classifier) held(n *node, sc *scratch) *node {
	switch n.kind {
	case kAnd:
		m := *n
		m.kids = make([]*node, len(n.kids))
		for i, k := range n.kids {
			m.kids[i] = c.held(k, sc)
		}
		return &m
	case kOr:
		var kids []*node
		for _, k := range n.kids {
			if c.eval(k, sc) {
				kids = append(kids, c.held(k, sc))
			}
		}
		if len(kids) == 1 {
			return kids[0]
		}
		m := *n
		m.kids = kids
		return &m
	}
	return n
}
