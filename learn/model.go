// Package learn is the learned second stage of a topic: an L2-regularised
// logistic regression over the words and word pairs of articles, trained
// only on that topic's feedback labels. It is asked only about articles
// the topic's query already matched, and may only veto them: it never
// adds an alert. It acts only when k-fold cross-validation on the labels
// says it helps (see Gate).
package learn

import (
	"math"
	"slices"
	"sort"
	"strings"

	"newswatch/classifier"
	"newswatch/news"
)

// Feature extraction bounds: the words read from an article and the
// vocabulary kept, so that training and scoring cost stay bounded on
// crafted input.
const (
	maxTitleWords = 64
	maxBodyWords  = 1000
	maxVocab      = 20000
	// minDocs is how many training articles must hold a feature for it
	// to enter the vocabulary: a word seen once teaches nothing general.
	minDocs = 2
)

// Training parameters: full-batch gradient descent on unit-length
// binary feature vectors, so that the step below is safe whatever the
// data (the loss's curvature is at most 1/4 + lambda).
const (
	lambda     = 1e-3
	iterations = 250
	step       = 3.5
)

// Features returns the distinct features of a: the words and adjacent
// word pairs of its title ("t:" prefix) and of its summary, content and
// categories ("b:" prefix), as the classifier normalises them; sorted.
func Features(a *news.Article) []string {
	set := map[string]struct{}{}
	eachFeature(a, func(f []byte) { set[string(f)] = struct{}{} })
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// eachFeature calls emit with every feature of a, repeats included; f is
// valid only during the call.
func eachFeature(a *news.Article, emit func(f []byte)) {
	var buf []byte
	add := func(prefix, text string, max int) {
		prev := ""
		classifier.Words(text, max, func(w string) {
			if len(w) == 1 && w[0] < 0x80 {
				prev = "" // a lone letter or digit carries little
				return
			}
			buf = append(append(buf[:0], prefix...), w...)
			emit(buf)
			if prev != "" {
				buf = append(append(append(append(buf[:0], prefix...), prev...), ' '), w...)
				emit(buf)
			}
			prev = w
		})
	}
	add("t:", a.Title, maxTitleWords)
	body := a.Summary + "\n" + a.Content + "\n" + strings.Join(a.Categories, "\n")
	add("b:", body, maxBodyWords)
}

// Example is one labelled article.
type Example struct {
	ID       string // article id, for deterministic folds
	Features []string
	Relevant bool
	// Matched says whether the topic's current query matches the
	// article: the stage judges only matches.
	Matched bool
}

// Model is a trained logistic regression. A nil Model scores nothing.
type Model struct {
	vocab map[string]int
	terms []string
	w     []float64
	b     float64
}

// sparse is a feature vector: indices into the vocabulary, each with the
// same value 1/sqrt(len) (unit length).
type sparse struct {
	idx []int
	val float64
}

func (m *Model) vector(features []string) sparse {
	var v sparse
	for _, f := range features {
		if i, ok := m.vocab[f]; ok {
			v.idx = append(v.idx, i)
		}
	}
	if len(v.idx) > 0 {
		v.val = 1 / math.Sqrt(float64(len(v.idx)))
	}
	return v
}

// vectorOf is vector(Features(a)) without building the features: only
// those the model knows are looked up.
func (m *Model) vectorOf(a *news.Article) sparse {
	var v sparse
	eachFeature(a, func(f []byte) {
		if i, ok := m.vocab[string(f)]; ok {
			v.idx = append(v.idx, i)
		}
	})
	sort.Ints(v.idx)
	v.idx = slices.Compact(v.idx)
	if len(v.idx) > 0 {
		v.val = 1 / math.Sqrt(float64(len(v.idx)))
	}
	return v
}

func (m *Model) margin(v sparse) float64 {
	z := m.b
	for _, i := range v.idx {
		z += m.w[i] * v.val
	}
	return z
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Train fits a model to examples. It is deterministic: the same examples
// in any order give the same model.
func Train(examples []Example) *Model {
	// The vocabulary: features held by at least minDocs examples, the
	// most common first, capped.
	df := map[string]int{}
	for _, e := range examples {
		for _, f := range e.Features {
			df[f]++
		}
	}
	var terms []string
	for f, n := range df {
		if n >= minDocs {
			terms = append(terms, f)
		}
	}
	sort.Slice(terms, func(i, j int) bool {
		if df[terms[i]] != df[terms[j]] {
			return df[terms[i]] > df[terms[j]]
		}
		return terms[i] < terms[j]
	})
	if len(terms) > maxVocab {
		terms = terms[:maxVocab]
	}
	sort.Strings(terms)
	m := &Model{vocab: make(map[string]int, len(terms)), terms: terms, w: make([]float64, len(terms))}
	for i, t := range terms {
		m.vocab[t] = i
	}
	if len(examples) == 0 {
		return m
	}
	// Examples in a fixed order, so that float sums do not depend on
	// the caller's.
	order := make([]int, len(examples))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return examples[order[i]].ID < examples[order[j]].ID })
	xs := make([]sparse, len(examples))
	ys := make([]float64, len(examples))
	for k, i := range order {
		xs[k] = m.vector(examples[i].Features)
		if examples[i].Relevant {
			ys[k] = 1
		}
	}
	n := float64(len(xs))
	grad := make([]float64, len(m.w))
	for range iterations {
		clear(grad)
		gb := 0.0
		for k, x := range xs {
			r := sigmoid(m.margin(x)) - ys[k]
			gb += r
			for _, i := range x.idx {
				grad[i] += r * x.val
			}
		}
		for i := range m.w {
			m.w[i] -= step * (grad[i]/n + lambda*m.w[i])
		}
		m.b -= step * gb / n
	}
	return m
}

// Score is the model's probability that an article with these features
// is relevant.
func (m *Model) Score(features []string) float64 {
	if m == nil {
		return 1
	}
	return sigmoid(m.margin(m.vector(features)))
}

// ScoreArticle is Score(Features(a)), cheaper.
func (m *Model) ScoreArticle(a *news.Article) float64 {
	if m == nil {
		return 1
	}
	return sigmoid(m.margin(m.vectorOf(a)))
}

// Contribution is one feature's part in a score.
type Contribution struct {
	Term   string  // the feature without its field prefix
	Field  string  // "title" or "body"
	Weight float64 // its addition to the log-odds of relevant
}

// Explain returns the features that moved the score most, at most n,
// the strongest first.
func (m *Model) Explain(features []string, n int) []Contribution {
	if m == nil {
		return nil
	}
	v := m.vector(features)
	cs := make([]Contribution, 0, len(v.idx))
	for _, i := range v.idx {
		t := m.terms[i]
		field := "body"
		if strings.HasPrefix(t, "t:") {
			field = "title"
		}
		cs = append(cs, Contribution{Term: t[2:], Field: field, Weight: m.w[i] * v.val})
	}
	sort.Slice(cs, func(i, j int) bool {
		ai, aj := math.Abs(cs[i].Weight), math.Abs(cs[j].Weight)
		if ai != aj {
			return ai > aj
		}
		return cs[i].Field+cs[i].Term < cs[j].Field+cs[j].Term
	})
	if len(cs) > n {
		cs = cs[:n]
	}
	return cs
}

// Vocabulary is the number of features the model knows.
func (m *Model) Vocabulary() int {
	if m == nil {
		return 0
	}
	return len(m.terms)
}
