package classifier

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"newswatch/news"
)

// Explanation is the verdict of one topic on one article, with its reasons.
type Explanation struct {
	Topic    string       `json:"topic"`
	Name     string       `json:"name,omitempty"`
	Query    string       `json:"query"` // the query as compiled, printed back
	Matched  bool         `json:"matched"`
	Score    float64      `json:"score"`
	MinScore float64      `json:"min_score,omitempty"`
	Matches  []news.Match `json:"matches,omitempty"` // positive terms found, matched or not
	// Failed says, for a miss, which clause failed and why (or that the
	// score stayed below MinScore).
	Failed string `json:"failed,omitempty"`
	// Learned is the topic's learned second stage on a match, when it
	// is enabled (filled in by the caller: see package learn).
	Learned *Learned `json:"learned,omitempty"`
}

// Learned is a learned second stage's verdict on a match of the query.
type Learned struct {
	// Active says the stage may act: its cross-validation allowed it.
	Active    bool    `json:"active"`
	Score     float64 `json:"score,omitempty"` // probability of relevant
	Threshold float64 `json:"threshold"`
	// Vetoed: the score is below the threshold, so no alert is sent.
	Vetoed bool          `json:"vetoed"`
	Terms  []LearnedTerm `json:"terms,omitempty"` // the strongest contributions
	Reason string        `json:"reason,omitempty"`
}

// LearnedTerm is one word or word pair's part in a learned score.
type LearnedTerm struct {
	Term   string  `json:"term"`
	Field  string  `json:"field"`  // title or body
	Weight float64 `json:"weight"` // added to the log-odds of relevant
}

// Explain returns, for every topic (or only the one whose id is topic, if
// topic is non-empty), whether it matched, its score, the terms found and,
// for a miss, the clause that failed. Unknown topic ids yield nothing.
func (c *Classifier) Explain(a *news.Article, topic string) []Explanation {
	sc := c.pool.Get().(*scratch)
	defer c.pool.Put(sc)
	c.scan(a, sc)
	return c.explain(sc, topic)
}

// explain builds the explanations of the article scanned into sc.
func (c *Classifier) explain(sc *scratch, topic string) []Explanation {
	var out []Explanation
	for i := range c.topics {
		t := &c.topics[i]
		if topic != "" && t.id != topic {
			continue
		}
		ex := Explanation{
			Topic:    t.id,
			Name:     t.name,
			Query:    t.query.String(),
			Score:    c.score(t, sc),
			MinScore: t.minScore,
			Matches:  c.matches(t, sc),
		}
		if why := c.why(t.query, sc); why != "" {
			ex.Failed = why
		} else if ex.Score < t.minScore {
			ex.Failed = fmt.Sprintf("score %s is below min_score %s", fmtNum(ex.Score), fmtNum(t.minScore))
		} else {
			ex.Matched = true
		}
		out = append(out, ex)
	}
	return out
}

// why returns "" when n holds, else the innermost clause that made it
// fail, printed in query syntax, with what was found.
func (c *Classifier) why(n *node, sc *scratch) string {
	if c.eval(n, sc) {
		return ""
	}
	switch n.kind {
	case kTerm:
		return fmt.Sprintf("%s: not found in %s", n, strings.Join(sortedFields(n.fields()), ", "))
	case kAnd:
		for _, k := range n.kids {
			if w := c.why(k, sc); w != "" {
				return w
			}
		}
	case kOr:
		if isTermSet(n) {
			return fmt.Sprintf("%s: none found", n)
		}
		// Say why each alternative failed; printing the whole group
		// would only repeat the query.
		var b strings.Builder
		b.WriteString("no alternative holds:")
		for i, k := range n.kids {
			fmt.Fprintf(&b, " [%d] %s", i+1, c.why(k, sc))
			if i < len(n.kids)-1 {
				b.WriteByte(';')
			}
		}
		return b.String()
	case kNot:
		return fmt.Sprintf("%s: %s was found", n, n.kids[0])
	case kAtLeast:
		return fmt.Sprintf("%s: found %d time(s), need %d", n, c.countSet(n.kids[0], sc), n.n)
	case kNear:
		for _, k := range n.kids {
			if c.countSet(k, sc) == 0 {
				return fmt.Sprintf("%s: %s not found", n, k)
			}
		}
		return fmt.Sprintf("%s: both found, never within %d words in one field", n, n.n)
	case kTopic:
		t := &c.topics[n.ref]
		if w := c.why(t.query, sc); w != "" {
			return fmt.Sprintf("%s did not match: %s", n, w)
		}
		return fmt.Sprintf("%s did not match: score %s is below its min_score %s", n, fmtNum(c.score(t, sc)), fmtNum(t.minScore))
	}
	return n.String()
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// WriteExplanation renders explanations as human-readable text, one block
// per topic.
func WriteExplanation(w io.Writer, ex []Explanation) error {
	bw := bufio.NewWriter(w)
	for i, e := range ex {
		if i > 0 {
			bw.WriteByte('\n')
		}
		verdict := "no match"
		if e.Matched {
			verdict = "MATCH"
			if e.Learned != nil && e.Learned.Vetoed {
				verdict = "MATCH, vetoed by learned stage"
			}
		}
		name := ""
		if e.Name != "" && e.Name != e.Topic {
			name = " (" + e.Name + ")"
		}
		fmt.Fprintf(bw, "%s%s: %s, score %s", e.Topic, name, verdict, fmtNum(round2(e.Score)))
		if e.MinScore > 0 {
			fmt.Fprintf(bw, " (min_score %s)", fmtNum(e.MinScore))
		}
		bw.WriteByte('\n')
		fmt.Fprintf(bw, "  query: %s\n", e.Query)
		if e.Failed != "" {
			fmt.Fprintf(bw, "  failed: %s\n", e.Failed)
		}
		if l := e.Learned; l != nil {
			writeLearned(bw, l)
		}
		for _, m := range e.Matches {
			fmt.Fprintf(bw, "  %-9s %s ×%d", m.Field, m.Term, m.Count)
			if m.Snippet != "" {
				fmt.Fprintf(bw, "  %s", m.Snippet)
			}
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

func round2(v float64) float64 {
	return float64(int64(v*100+0.5)) / 100
}

func writeLearned(w io.Writer, l *Learned) {
	switch {
	case !l.Active:
		fmt.Fprintf(w, "  learned stage: not acting: %s\n", l.Reason)
		return
	case l.Vetoed:
		fmt.Fprintf(w, "  learned stage: vetoed by learned stage: score %.3f is below threshold %s\n", l.Score, fmtNum(l.Threshold))
	default:
		fmt.Fprintf(w, "  learned stage: kept: score %.3f, threshold %s\n", l.Score, fmtNum(l.Threshold))
	}
	if l.Reason != "" {
		fmt.Fprintf(w, "    (%s)\n", l.Reason)
	}
	for _, t := range l.Terms {
		fmt.Fprintf(w, "    %+.3f  %-5s %s\n", t.Weight, t.Field, t.Term)
	}
}
