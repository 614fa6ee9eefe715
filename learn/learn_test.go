package learn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"newswatch/config"
	"newswatch/news"
)

var (
	goodWords  = []string{"seizure", "border", "precursor", "trafficking", "cartel", "smuggling", "chemicals", "indictment"}
	badWords   = []string{"patch", "verdict", "pharmaceutical", "settlement", "jury", "lawsuit", "marketing", "bankruptcy"}
	noiseWords = []string{"said", "officials", "report", "week", "government", "news", "people", "county", "state", "new"}
)

// toyArticle is an article on fentanyl whose other words come from one
// side of the toy set (plus noise).
func toyArticle(r *rand.Rand, i int, relevant bool) news.Article {
	side := badWords
	if relevant {
		side = goodWords
	}
	var b strings.Builder
	b.WriteString("fentanyl ")
	for range 40 {
		if r.IntN(3) == 0 {
			b.WriteString(side[r.IntN(len(side))])
		} else {
			b.WriteString(noiseWords[r.IntN(len(noiseWords))])
		}
		b.WriteByte(' ')
	}
	return news.Article{ID: fmt.Sprintf("a%03d", i), Title: "Fentanyl " + side[r.IntN(len(side))], Content: b.String()}
}

func toySet(n int, seed uint64) ([]Example, []news.Article) {
	r := rand.New(rand.NewPCG(seed, 1))
	var es []Example
	var arts []news.Article
	for i := range n {
		rel := i%2 == 0
		a := toyArticle(r, i, rel)
		arts = append(arts, a)
		es = append(es, Example{ID: a.ID, Features: Features(&a), Relevant: rel, Matched: true})
	}
	return es, arts
}

func TestModelLearnsSeparableSet(t *testing.T) {
	train, _ := toySet(60, 1)
	m := Train(train)
	_, test := toySet(40, 2)
	for i := range test {
		p := m.Score(Features(&test[i]))
		if rel := i%2 == 0; rel != (p >= 0.5) {
			t.Errorf("article %d (relevant %v): score %.3f", i, rel, p)
		}
	}
	// The strongest terms are the ones that separate the two sides.
	good := Features(&news.Article{Content: "precursor seizure"})
	bad := Features(&news.Article{Content: "verdict settlement"})
	if g, b := m.Score(good), m.Score(bad); g <= 0.5 || b >= 0.5 {
		t.Errorf("score of good words %.3f, of bad words %.3f", g, b)
	}
	for _, c := range m.Explain(bad, 3) {
		if c.Weight >= 0 {
			t.Errorf("bad words explained by %+v, want negative weights", c)
		}
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	es, _ := toySet(50, 3)
	rev := make([]Example, len(es))
	for i := range es {
		rev[len(es)-1-i] = es[i]
	}
	a, b := Train(es), Train(rev)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same examples in another order gave another model")
	}
}

func TestCrossValidateIsDeterministic(t *testing.T) {
	es, _ := toySet(80, 4)
	q1, s1 := CrossValidate(es, 0.2, Folds)
	shuffled := append([]Example(nil), es...)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	q2, s2 := CrossValidate(shuffled, 0.2, Folds)
	if q1 != q2 || s1 != s2 {
		t.Fatalf("cross-validation depends on order: %+v %+v vs %+v %+v", q1, s1, q2, s2)
	}
	if q1.TP+q1.FN != 40 || q1.FP != 40 {
		t.Errorf("query alone: %+v, want 40 relevant and 40 false positives", q1)
	}
	if s1.FP >= q1.FP/4 || s1.TP < q1.TP*9/10 {
		t.Errorf("staged %+v does not improve on query %+v", s1, q1)
	}
}

func learnedCfg() config.Learned {
	return config.Learned{Enabled: true, Threshold: 0.2, MinLabels: 20, MaxRecallLoss: 0.05}
}

func TestGate(t *testing.T) {
	sep, arts := toySet(80, 5)
	// Noise: labels that have nothing to do with the words.
	noise, _ := toySet(80, 6)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range noise {
		noise[i].Relevant = r.IntN(4) != 0
	}
	for _, tc := range []struct {
		name    string
		es      []Example
		allowed bool
		reason  string
	}{
		{"separable", sep, true, "above the query's"},
		{"too few labels", sep[:30], false, "too few labels"},
		{"labels the words cannot tell", noise, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Build("fentanyl", learnedCfg(), tc.es)
			if g.Report.Allowed != tc.allowed || g.Active() != tc.allowed {
				t.Fatalf("allowed %v, want %v: %s", g.Report.Allowed, tc.allowed, g.Report.Reason)
			}
			if !strings.Contains(g.Report.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", g.Report.Reason, tc.reason)
			}
			v := g.Judge(&arts[1]) // a not relevant article
			if v.Vetoed != tc.allowed {
				t.Errorf("verdict on a bad article: %+v", v)
			}
			if vetoed, _ := g.Vetoes(&arts[1]); vetoed != tc.allowed {
				t.Errorf("Vetoes = %v", vetoed)
			}
			if tc.allowed && len(v.Terms) == 0 {
				t.Error("a veto lists no terms")
			}
		})
	}
}

// TestScoreArticleIsScore: the scoring shortcut agrees with the features.
func TestScoreArticleIsScore(t *testing.T) {
	es, arts := toySet(60, 12)
	m := Train(es)
	extra := []news.Article{{Title: "U.S. fentanyl verdict", Content: "<p>Jury &amp; border</p> patch patch", Categories: []string{"Drugs", "Courts"}}, {}}
	for _, a := range append(arts, extra...) {
		if s1, s2 := m.Score(Features(&a)), m.ScoreArticle(&a); math.Abs(s1-s2) > 1e-12 {
			t.Errorf("%q: Score %v, ScoreArticle %v", a.Title, s1, s2)
		}
	}
}
