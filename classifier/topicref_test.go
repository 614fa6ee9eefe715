package classifier

import (
	"errors"
	"strings"
	"testing"

	"newswatch/config"
	"newswatch/news"
)

func TestTopicReferences(t *testing.T) {
	topics := []config.Topic{
		// both names a topic defined after it.
		{ID: "both", Query: "topic:drug AND topic:place"},
		{ID: "drug", Query: "fentanyl OR heroin"},
		{ID: "place", Query: "china OR 中国", MinScore: 2},
		{ID: "drug-elsewhere", Query: "topic:drug AND NOT topic:place"},
		{ID: "nested", Query: "topic:both AND title:seized"},
	}
	c := mustNew(t, topics...)
	tests := []struct {
		art  news.Article
		want string
	}{
		{news.Article{Title: "Fentanyl from China", Content: "China fentanyl."}, "both,drug,place"},
		{news.Article{Title: "Fentanyl seized", Content: "Fentanyl from China was seized."}, "both,drug,drug-elsewhere,nested"},
		{news.Article{Title: "Heroin seized", Content: "In Ohio."}, "drug,drug-elsewhere"},
		{news.Article{Title: "Seized", Content: "Chinese tea."}, ""},
	}
	// The second article names China once in the content: place's score
	// 1 stays below its min_score 2, so place does not match and
	// neither does anything built on it.
	tests[1].want = "drug,drug-elsewhere"
	for _, tt := range tests {
		var got []string
		for _, m := range c.Classify(&tt.art) {
			got = append(got, m.Topic)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%q: topics %v, want %q\n%s", tt.art.Title, got, tt.want, explainText(c, &tt.art))
		}
		for i, id := range c.Topics() {
			m, _ := c.MatchPrepared(Prepare(&tt.art), i)
			if m != strings.Contains(","+strings.Join(got, ",")+",", ","+id+",") {
				t.Errorf("%q: MatchPrepared(%s) = %v, Classify disagrees", tt.art.Title, id, m)
			}
		}
	}
	// A composite topic's match lists the terms of the topics it names.
	a := news.Article{Title: "Fentanyl from China", Content: "China fentanyl."}
	for _, m := range c.Classify(&a) {
		if m.Topic != "both" {
			continue
		}
		var terms []string
		for _, x := range m.Matches {
			terms = append(terms, x.Term)
		}
		if s := strings.Join(terms, ","); !strings.Contains(s, "fentanyl") || !strings.Contains(s, "china") {
			t.Errorf("both: matches %v, want fentanyl and china", terms)
		}
	}
	// Explain says which referenced topic failed.
	ex := c.Explain(&news.Article{Title: "Heroin", Content: "x"}, "both")
	if len(ex) != 1 || !strings.Contains(ex[0].Failed, "topic:place did not match") {
		t.Errorf("explain: %+v", ex)
	}
}

func TestTopicReferenceErrors(t *testing.T) {
	tests := []struct {
		topics []config.Topic
		topic  string // the topic the first error names
		pos    int
		msg    string
	}{
		{[]config.Topic{{ID: "a", Query: "x AND topic:nope"}}, "a", 6, `unknown topic "nope": expected one of a`},
		{[]config.Topic{{ID: "a", Query: "topic:a"}}, "a", 0, "cycle of topic references (a -> a)"},
		{[]config.Topic{{ID: "a", Query: "x OR topic:b"}, {ID: "b", Query: "y AND topic:c"}, {ID: "c", Query: "topic:a"}}, "a", 5, "(a -> b -> c -> a)"},
		{[]config.Topic{{ID: "a", Query: "topic:"}}, "a", 0, "expected a topic id"},
		{[]config.Topic{{ID: "a", Query: "title:topic:b"}, {ID: "b", Query: "x"}}, "a", 6, "field scope does not apply"},
		{[]config.Topic{{ID: "a", Query: "topic:b NEAR/3 x"}, {ID: "b", Query: "x"}}, "a", 0, "NEAR/3 takes terms"},
	}
	for _, tt := range tests {
		_, err := New(tt.topics)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%v: error %v is not a *ParseError", tt.topics, err)
			continue
		}
		if pe.Topic != tt.topic || pe.Pos != tt.pos || !strings.Contains(pe.Msg, tt.msg) {
			t.Errorf("%v: got %q in %s at %d, want %q in %s at %d", tt.topics, pe.Msg, pe.Topic, pe.Pos, tt.msg, tt.topic, tt.pos)
		}
	}
	// Every topic on a cycle is told.
	_, err := New([]config.Topic{{ID: "a", Query: "topic:b"}, {ID: "b", Query: "topic:a"}, {ID: "c", Query: "topic:a"}})
	if err == nil || !strings.Contains(err.Error(), `topic "a"`) || !strings.Contains(err.Error(), `topic "b"`) || strings.Contains(err.Error(), `topic "c"`) {
		t.Errorf("cycle errors: %v", err)
	}
}

func TestTopicReferencePrintRoundTrip(t *testing.T) {
	n, err := parse("t", "topic:us-china AND (topic:fentanyl OR opioid*)")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.String(); got != "topic:us-china AND (topic:fentanyl OR opioid*)" {
		t.Errorf("printed %q", got)
	}
}

func TestNeeds(t *testing.T) {
	c := mustNew(t,
		config.Topic{ID: "both", Query: "topic:drug AND topic:place"},
		config.Topic{ID: "drug", Query: "fentanyl OR heroin"},
		config.Topic{ID: "place", Query: "china"},
		config.Topic{ID: "nested", Query: "topic:both AND NOT topic:other"},
		config.Topic{ID: "other", Query: "taiwan"},
	)
	for id, want := range map[string]string{
		"drug":   "drug",
		"both":   "both,drug,place",
		"nested": "both,drug,place,nested,other",
	} {
		if got := strings.Join(c.Needs(c.TopicIndex(id)), ","); got != want {
			t.Errorf("Needs(%s) = %s, want %s", id, got, want)
		}
	}
}
