package learn

import (
	"crypto/sha256"
	"fmt"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

// Folds is the number of cross-validation folds.
const Folds = 5

// MaxExamples caps the labels a model is trained on (the latest win),
// which bounds a retrain's cost.
const MaxExamples = 2000

// PR counts a verdict against the labels.
type PR struct {
	TP int `json:"tp"` // kept, labelled relevant
	FP int `json:"fp"` // kept, labelled not relevant
	FN int `json:"fn"` // not kept, labelled relevant
}

// Precision is TP/(TP+FP); 0 when nothing was kept.
func (p PR) Precision() float64 { return ratio(p.TP, p.TP+p.FP) }

// Recall is TP/(TP+FN); 0 when nothing is relevant.
func (p PR) Recall() float64 { return ratio(p.TP, p.TP+p.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Report is a topic's cross-validation: the query alone and the query
// with the learned stage, each against the labels, and whether the stage
// may act.
type Report struct {
	Topic       string  `json:"topic"`
	Labels      int     `json:"labels"`
	Relevant    int     `json:"relevant"`
	NotRelevant int     `json:"not_relevant"`
	Folds       int     `json:"folds"`
	Threshold   float64 `json:"threshold"`
	Query       PR      `json:"query"`  // the query alone
	Staged      PR      `json:"staged"` // the query, then the stage's veto
	Allowed     bool    `json:"allowed"`
	// Reason says why the stage may or may not act.
	Reason string `json:"reason"`
}

// foldOf puts an article in a fold by a hash of its id: the same
// article lands in the same fold whatever the order of the labels.
func foldOf(id string, k int) int {
	h := sha256.Sum256([]byte(id))
	return int(h[0]) % k
}

// CrossValidate trains on all folds but one and judges the one left out,
// for each fold, and compares with the labels. Deterministic.
func CrossValidate(examples []Example, threshold float64, k int) (query, staged PR) {
	folds := make([][]Example, k)
	for _, e := range examples {
		f := foldOf(e.ID, k)
		folds[f] = append(folds[f], e)
	}
	for f := range k {
		var train []Example
		for g := range k {
			if g != f {
				train = append(train, folds[g]...)
			}
		}
		var m *Model
		if len(folds[f]) > 0 {
			m = Train(train)
		}
		for _, e := range folds[f] {
			count(&query, e.Matched, e.Relevant)
			keep := e.Matched && m.Score(e.Features) >= threshold
			count(&staged, keep, e.Relevant)
		}
	}
	return query, staged
}

func count(p *PR, kept, relevant bool) {
	switch {
	case kept && relevant:
		p.TP++
	case kept:
		p.FP++
	case relevant:
		p.FN++
	}
}

// Gate is a topic's trained stage with its cross-validation. A Gate
// whose Report does not allow it never vetoes.
type Gate struct {
	Config config.Learned
	Model  *Model
	Report Report
}

// Build trains topic's stage on its examples and decides whether it may
// act: enough labels of each kind, cross-validated precision above the
// query's alone, and recall lost within the configured bound.
func Build(topic string, cfg config.Learned, examples []Example) *Gate {
	examples = latest(examples)
	r := Report{Topic: topic, Labels: len(examples), Folds: Folds, Threshold: cfg.Threshold}
	for _, e := range examples {
		if e.Relevant {
			r.Relevant++
		} else {
			r.NotRelevant++
		}
	}
	g := &Gate{Config: cfg}
	if r.Relevant < cfg.MinLabels || r.NotRelevant < cfg.MinLabels {
		r.Reason = fmt.Sprintf("too few labels: %d relevant and %d not relevant, need %d of each (learned.min_labels)",
			r.Relevant, r.NotRelevant, cfg.MinLabels)
		g.Report = r
		return g
	}
	r.Query, r.Staged = CrossValidate(examples, cfg.Threshold, Folds)
	qp, sp := r.Query.Precision(), r.Staged.Precision()
	loss := r.Query.Recall() - r.Staged.Recall()
	switch {
	case sp <= qp:
		r.Reason = fmt.Sprintf("cross-validated precision %.2f is not above the query's alone (%.2f)", sp, qp)
	case loss > cfg.MaxRecallLoss+1e-9:
		r.Reason = fmt.Sprintf("cross-validated recall %.2f loses %.2f against the query's alone (%.2f), more than learned.max_recall_loss %.2f",
			r.Staged.Recall(), loss, r.Query.Recall(), cfg.MaxRecallLoss)
	default:
		r.Allowed = true
		r.Reason = fmt.Sprintf("cross-validated precision %.2f above the query's %.2f, recall %.2f against %.2f",
			sp, qp, r.Staged.Recall(), r.Query.Recall())
	}
	g.Report = r
	if r.Allowed {
		g.Model = Train(examples)
	}
	return g
}

// latest keeps the last MaxExamples examples (callers pass them oldest
// first).
func latest(es []Example) []Example {
	if len(es) > MaxExamples {
		return es[len(es)-MaxExamples:]
	}
	return es
}

// Active reports whether the gate may veto.
func (g *Gate) Active() bool { return g != nil && g.Report.Allowed && g.Model != nil }

// topTerms is how many contributing terms a verdict lists.
const topTerms = 8

// Judge is the stage's verdict on an article the query matched. Only an
// active gate vetoes; an inactive one says why it does not act.
func (g *Gate) Judge(a *news.Article) *classifier.Learned {
	v := &classifier.Learned{Threshold: g.Config.Threshold, Active: g.Active(), Reason: g.Report.Reason}
	if !v.Active {
		return v
	}
	fs := Features(a)
	v.Score = g.Model.Score(fs)
	v.Vetoed = v.Score < g.Config.Threshold
	for _, c := range g.Model.Explain(fs, topTerms) {
		v.Terms = append(v.Terms, classifier.LearnedTerm{Term: c.Term, Field: c.Field, Weight: c.Weight})
	}
	return v
}

// Vetoes reports whether the gate vetoes a match of a, with the score;
// cheaper than Judge (no explanation).
func (g *Gate) Vetoes(a *news.Article) (bool, float64) {
	if !g.Active() {
		return false, 1
	}
	s := g.Model.ScoreArticle(a)
	return s < g.Config.Threshold, s
}
