package learn

import (
	"math/rand/v2"
	"strings"
	"testing"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

func stageTopics() []config.Topic {
	on := learnedCfg()
	return []config.Topic{
		{ID: "fentanyl", Query: "fentanyl", Learned: on},
		{ID: "opioids", Query: "opioid* OR fentanyl OR verdict", Learned: on},
		{ID: "plain", Query: "fentanyl OR border"},
	}
}

// trainedStages is a Stages whose fentanyl and opioids gates act, trained
// on the toy set.
func trainedStages(t testing.TB) (*Stages, *classifier.Classifier) {
	t.Helper()
	c, err := classifier.New(stageTopics())
	if err != nil {
		t.Fatal(err)
	}
	es, _ := toySet(80, 11)
	s := &Stages{}
	gates := map[string]*Gate{}
	for _, tp := range stageTopics() {
		if tp.Learned.Enabled {
			gates[tp.ID] = Build(tp.ID, tp.Learned, es)
			if !gates[tp.ID].Active() {
				t.Fatalf("gate %s does not act: %s", tp.ID, gates[tp.ID].Report.Reason)
			}
		}
	}
	s.Set(gates)
	return s, c
}

// checkSubset fails unless with is without minus some matches, in order.
func checkSubset(t *testing.T, a *news.Article, without, with []news.TopicMatch) {
	t.Helper()
	j := 0
	for _, m := range with {
		for j < len(without) && without[j].Topic != m.Topic {
			j++
		}
		if j == len(without) {
			t.Fatalf("article %q: the stage added or reordered topic %s (without %v, with %v)", a.Title, m.Topic, without, with)
		}
		j++
	}
}

func topicsOf(ms []news.TopicMatch) []news.TopicMatch { return append([]news.TopicMatch(nil), ms...) }

// TestStageNeverAddsAMatch: over random articles, the topics alerted
// with the stage are a subset of those without it.
func TestStageNeverAddsAMatch(t *testing.T) {
	s, c := trainedStages(t)
	r := rand.New(rand.NewPCG(21, 21))
	vocab := append(append(append([]string{"fentanyl", "opioids", "border", "verdict"}, goodWords...), badWords...), noiseWords...)
	vetoed := 0
	for i := range 2000 {
		var b strings.Builder
		for range r.IntN(60) {
			b.WriteString(vocab[r.IntN(len(vocab))] + " ")
		}
		a := news.Article{ID: "r", Title: vocab[r.IntN(len(vocab))], Content: b.String()}
		if i%7 == 0 {
			a.Content = "" // articles the model has no word of
		}
		without := c.Classify(&a)
		with, vetoes := s.Filter(&a, topicsOf(without))
		checkSubset(t, &a, without, with)
		if len(with)+len(vetoes) != len(without) {
			t.Fatalf("kept %d and vetoed %d of %d matches", len(with), len(vetoes), len(without))
		}
		for _, v := range vetoes {
			if v.Topic == "plain" {
				t.Fatal("a topic without the stage was vetoed")
			}
		}
		vetoed += len(vetoes)
	}
	if vetoed == 0 {
		t.Fatal("no match was ever vetoed: the test proves nothing")
	}
}

func FuzzStageNeverAddsAMatch(f *testing.F) {
	f.Add("Fentanyl verdict", "jury settlement fentanyl patch")
	f.Add("border seizure", "fentanyl precursor cartel")
	f.Add("", "<b>fentanyl</b> &amp; 芬太尼")
	s, c := trainedStages(f)
	f.Fuzz(func(t *testing.T, title, content string) {
		a := news.Article{Title: title, Content: content}
		without := c.Classify(&a)
		with, _ := s.Filter(&a, topicsOf(without))
		checkSubset(t, &a, without, with)
	})
}
