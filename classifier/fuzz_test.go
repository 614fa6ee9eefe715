package classifier

import (
	"testing"

	"newswatch/config"
	"newswatch/news"
)

var fuzzQueries = []string{
	"fentanyl",
	`title:"synthetic opioid*"^2 OR opioid* AND NOT -x`,
	"(a OR b) AND (c OR d) AND NOT (e AND f)",
	"a NEAR/3 (b OR c) OR d ONEAR/2 e",
	"ATLEAST/3 (fentanyl OR content:carfentanil) AND {US}^1.5",
	"芬太尼 OR 美中 OR lead:中美",
	"((", `"`, "{", "a^", "NEAR/1", "title:", "-", "a AND", "x:y", "topic:t", "topic:",
}

// FuzzParse checks that parsing never panics and that printing a parsed
// query gives a query that parses to the same print.
func FuzzParse(f *testing.F) {
	for _, q := range fuzzQueries {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := parse("t", q)
		if err != nil {
			return
		}
		printed := n.String()
		m, err := parse("t", printed)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", q, printed, err)
		}
		if again := m.String(); again != printed {
			t.Fatalf("%q printed as %q, then as %q", q, printed, again)
		}
	})
}

// FuzzClassify checks that no query and article make the matcher panic,
// and that Classify and Explain agree.
func FuzzClassify(f *testing.F) {
	for _, q := range fuzzQueries {
		f.Add(q, "Fentanyl from China: the U.S.–China row over 芬太尼 <b>grows</b> &amp; grows", "title")
	}
	f.Add("china*", "\xff\xfe<<<&#xffffff;&#0;&;U.S.A.B", "chinA\u0301")
	f.Fuzz(func(t *testing.T, q, content, title string) {
		c, err := New([]config.Topic{{ID: "t", Query: q, MinScore: 0.5}})
		if err != nil {
			return
		}
		a := &news.Article{Title: title, Content: content, Summary: content[:len(content)/2], Categories: []string{title, content}, URL: content}
		got := len(c.Classify(a)) == 1
		ex := c.Explain(a, "t")
		if len(ex) != 1 || ex[0].Matched != got {
			t.Fatalf("Classify says %v, Explain says %+v", got, ex)
		}
		if !got && ex[0].Failed == "" {
			t.Fatalf("a miss without a reason: %+v", ex[0])
		}
		// The preview's path (normalise once, scan many times) agrees.
		p := Prepare(a)
		if pm, _ := c.MatchPrepared(p, 0); pm != got {
			t.Fatalf("Classify says %v, MatchPrepared says %v", got, pm)
		}
		// The preview's word filter never rules out a match.
		v := NewVocab()
		if ids := v.Words(p); got && !c.Filter(0, v).May(ids) {
			t.Fatalf("matched, but the word filter rules it out (words %v)", v.words)
		}
	})
}
