package classifier

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"newswatch/config"
	"newswatch/internal/fixture"
	"newswatch/news"
)

// TestWordFilter checks that the word filter rules out only articles a
// topic cannot match, for every kind of term, and that it rules out the
// ones that name none of the terms.
func TestWordFilter(t *testing.T) {
	topics := []config.Topic{
		{ID: "word", Query: "fentanyl"},
		{ID: "prefix", Query: "traffick* OR seiz*"},
		{ID: "phrase", Query: `"people's republic of china" OR "synthetic opioid*"`},
		{ID: "exact", Query: "{US} AND china"},
		{ID: "han", Query: "芬太尼 OR 中美"},
		{ID: "not", Query: "NOT fentanyl"},
		{ID: "ref", Query: "topic:word AND title:border"},
		{ID: "near", Query: "fentanyl NEAR/3 china*"},
	}
	c := mustNew(t, topics...)
	arts := []news.Article{
		{Title: "Fentanyl seized at the border", Content: "Agents seized it."},
		{Title: "Traffickers", Content: "The trafficking ring."},
		{Title: "Beijing", Content: "The People’s Republic of China said so; synthetic opioids, too."},
		{Title: "U.S. and China", Content: "Talks."},
		{Title: "us and china", Content: "lower case."},
		{Title: "美國與中國", Content: "芬太尼前體。"},
		{Title: "Weather", Content: "Sunny, with fentanyls of rain."},
		{Title: "Fentanyl from Chinatown", Content: "fentanyl chinese"},
	}
	// Articles the filter must rule out, by topic.
	out := map[string][]int{
		"word":   {1, 2, 3, 4, 5, 6},
		"prefix": {2, 3, 4, 5, 6, 7},
		"phrase": {0, 1, 3, 4, 5, 6, 7},
		"exact":  {0, 1, 2, 5, 6, 7}, // 4: "us" in lower case has the word
		"han":    {0, 1, 2, 3, 4, 6, 7},
		"ref":    {1, 2, 3, 4, 5, 6, 7},
		"near":   {0, 1, 2, 3, 4, 5, 6},
	}
	v := NewVocab()
	ids := make([][]uint32, len(arts))
	ps := make([]*Prepared, len(arts))
	for i := range arts {
		ps[i] = Prepare(&arts[i])
		ids[i] = v.Words(ps[i])
	}
	for ti, tp := range topics {
		wf := c.Filter(ti, v)
		if (wf == nil) != (tp.ID == "not") {
			t.Errorf("%s: filter %v, want nil only for a topic that matches without hits", tp.ID, wf)
		}
		excluded := map[int]bool{}
		for _, i := range out[tp.ID] {
			excluded[i] = true
		}
		for i := range arts {
			may := wf.May(ids[i])
			m, _ := c.MatchPrepared(ps[i], ti)
			if m && !may {
				t.Errorf("%s on %q: matches, but the filter rules it out", tp.ID, arts[i].Title)
			}
			if wf != nil && may == excluded[i] {
				t.Errorf("%s on %q: filter says %v, want %v", tp.ID, arts[i].Title, may, !excluded[i])
			}
		}
	}
}

// TestWordFilterLabeled checks the filter against the matcher on the
// labelled texts and the default topics: no match is ever ruled out.
func TestWordFilterLabeled(t *testing.T) {
	texts := append(loadLabeled(t), loadLabeledFile(t, fixture.Path(t, "labeled", "dev2.jsonl"))...)
	c := mustNew(t, loadTopics(t, defaultTopicsFile)...)
	v := NewVocab()
	ps := make([]*Prepared, len(texts))
	ids := make([][]uint32, len(texts))
	for i := range texts {
		ps[i] = Prepare(texts[i].article())
		ids[i] = v.Words(ps[i])
	}
	for ti, id := range c.Topics() {
		wf := c.Filter(ti, v)
		ruled := 0
		for i := range texts {
			m, _ := c.MatchPrepared(ps[i], ti)
			may := wf.May(ids[i])
			if m && !may {
				t.Errorf("%s on %s: matches, but the filter rules it out", id, texts[i].ID)
			}
			if !may {
				ruled++
			}
		}
		t.Logf("%s: %d of %d texts ruled out by words", id, ruled, len(texts))
	}
}

// TestVocabBytesIsAnUpperBound checks Vocab.Bytes against the heap a
// vocabulary of many rare words really holds, for several sizes and word
// lengths, with a filter's marks made: the preview counts it in its
// memory bound, so an estimate below the truth would let the cache
// outgrow the bound.
func TestVocabBytesIsAnUpperBound(t *testing.T) {
	c := mustNew(t, config.Topic{ID: "t", Name: "t", Query: "w*"})
	for _, tt := range []struct{ words, length int }{
		{14000, 9}, {14000, 17}, {14000, 33}, {200000, 9}, {200000, 17}, {60000, 60},
	} {
		var ps []*Prepared
		const perArticle = 1000
		for a := 0; a*perArticle < tt.words; a++ {
			var b strings.Builder
			for w := range perArticle {
				word := fmt.Sprintf("w%d", a*perArticle+w)
				b.WriteString(word + strings.Repeat("q", tt.length-len(word)) + " ")
			}
			ps = append(ps, Prepare(&news.Article{Content: b.String()}))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		v := NewVocab()
		for _, p := range ps {
			v.Words(p)
		}
		c.Filter(0, v) // sorts, and makes the marks
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(ps)
		held := int(after.HeapAlloc) - int(before.HeapAlloc)
		t.Logf("%d words of %d bytes: %d bytes held, %d estimated (%.0f and %.0f a word)", v.Len(), tt.length, held, v.Bytes(), float64(held)/float64(v.Len()), float64(v.Bytes())/float64(v.Len()))
		if v.Len() != tt.words {
			t.Fatalf("%d words, want %d", v.Len(), tt.words)
		}
		if v.Bytes() < held {
			t.Errorf("%d words of %d bytes: Bytes() = %d, below the %d bytes the vocabulary holds", tt.words, tt.length, v.Bytes(), held)
		}
		if v.Bytes() > 3*held {
			t.Errorf("%d words of %d bytes: Bytes() = %d, over three times the %d bytes the vocabulary holds", tt.words, tt.length, v.Bytes(), held)
		}
		runtime.KeepAlive(v)
	}
}
