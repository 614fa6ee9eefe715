package classifier

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"newswatch/config"
	"newswatch/news"
)

func mustNew(t testing.TB, topics ...config.Topic) *Classifier {
	t.Helper()
	c, err := New(topics)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func matched(c *Classifier, a *news.Article) bool { return len(c.Classify(a)) > 0 }

func TestMatching(t *testing.T) {
	tests := []struct {
		name  string
		query string
		art   news.Article
		want  bool
	}{
		{"term", "fentanyl", news.Article{Content: "A Fentanyl seizure."}, true},
		{"case folded", "FENTANYL", news.Article{Content: "fentanyl"}, true},
		{"word boundary left", "us", news.Article{Content: "the bus left"}, false},
		{"word boundary right", "china", news.Article{Content: "Chinatown is busy"}, false},
		{"prefix matches longer word", "china*", news.Article{Content: "Chinatown is busy"}, true},
		{"prefix matches itself", "opioid*", news.Article{Content: "an opioid crisis"}, true},
		{"possessive is a boundary", "china", news.Article{Content: "China's exports"}, true},
		{"hyphen is a boundary", "fentanyl", news.Article{Content: "fentanyl-laced pills"}, true},
		{"phrase", `"synthetic opioid"`, news.Article{Content: "a Synthetic\n  opioid flood"}, true},
		{"phrase across hyphen", `"us china"`, news.Article{Content: "US-China trade"}, true},
		{"phrase word order", `"synthetic opioid"`, news.Article{Content: "opioid synthetic"}, false},
		{"U.S. folds to US", `"us china"`, news.Article{Content: "U.S.-China talks"}, true},
		{"U.S. in a sentence", `"us officials"`, news.Article{Content: "said U.S. officials"}, true},
		{"exact case hits US", "{US}", news.Article{Content: "the US said"}, true},
		{"exact case hits U.S.", "{US}", news.Article{Content: "the U.S. said"}, true},
		{"exact case skips us", "{US}", news.Article{Content: "told us that"}, false},
		{"curly quotes fold", `"china's"`, news.Article{Content: "China’s ministry"}, true},
		{"en dash folds", `"us china"`, news.Article{Content: "US–China ties"}, true},
		{"html stripped", "fentanyl", news.Article{Content: "<p>fen<b>tanyl</b> seized</p>"}, true},
		{"tag separates words", `"seized fentanyl"`, news.Article{Content: "seized<br>fentanyl"}, true},
		{"entity decoded", `"at&t"`, news.Article{Content: "AT&amp;T shares"}, true},
		{"script dropped", "fentanyl", news.Article{Content: "<script>var fentanyl=1</script>news"}, false},
		{"nfkc fullwidth", "fentanyl", news.Article{Content: "ＦＥＮＴＡＮＹＬ"}, true},
		{"nbsp is space", `"synthetic opioid"`, news.Article{Content: "synthetic\u00a0opioid"}, true},
		{"accented", "méxico", news.Article{Content: "MÉXICO"}, true},
		{"decomposed accent", "méxico", news.Article{Content: "Me\u0301xico"}, true},
		{"accent is part of word", "mexico", news.Article{Content: "cafémexico"}, false},
		{"cjk without spaces", "芬太尼", news.Article{Content: "美国指责芬太尼泛滥"}, true},
		{"cjk pair", "中美", news.Article{Content: "中美关系紧张"}, true},
		{"traditional text, simplified term", "美国", news.Article{Content: "美國財政部"}, true},
		{"simplified text, traditional term", "關稅", news.Article{Content: "加征关税"}, true},
		{"latin next to han is a boundary", "us", news.Article{Content: "在US的"}, true},
		{"and", "china AND tariffs", news.Article{Content: "China raises tariffs"}, true},
		{"and missing", "china AND tariffs", news.Article{Content: "China raises taxes"}, false},
		{"or", "taxes OR tariffs", news.Article{Content: "China raises taxes"}, true},
		{"not", "china AND NOT taiwan", news.Article{Content: "China and Taiwan"}, false},
		{"minus", "china AND -taiwan", news.Article{Content: "China only"}, true},
		{"parens", "(china OR beijing) AND tariff*", news.Article{Content: "Beijing tariffs"}, true},
		{"title scope", "title:fentanyl", news.Article{Title: "Other", Content: "fentanyl"}, false},
		{"title scope hit", "title:fentanyl", news.Article{Title: "Fentanyl bust"}, true},
		{"group scope", "title:(fentanyl OR opioid*)", news.Article{Title: "Opioids"}, true},
		{"category", "category:drugs", news.Article{Categories: []string{"World", "Drugs"}}, true},
		{"category not in default", "drugs", news.Article{Categories: []string{"Drugs"}}, false},
		{"category phrase does not span", `category:"world drugs"`, news.Article{Categories: []string{"World", "Drugs"}}, false},
		{"url", "url:fentanyl", news.Article{URL: "https://example.org/news/fentanyl-bust"}, true},
		{"source", "source:reuters", news.Article{Source: "reuters-world"}, true},
		{"near", "china NEAR/4 fentanyl", news.Article{Content: "China is a source of fentanyl"}, true},
		{"near counts words between", "china NEAR/3 fentanyl", news.Article{Content: "China is a source of fentanyl"}, false},
		{"near reversed", "china NEAR/3 fentanyl", news.Article{Content: "fentanyl comes from China"}, true},
		{"near too far", "china NEAR/2 fentanyl", news.Article{Content: "China is a big source of fentanyl"}, false},
		{"near other field", "china NEAR/5 fentanyl", news.Article{Title: "China", Content: "fentanyl"}, false},
		{"onear order", "china ONEAR/3 fentanyl", news.Article{Content: "fentanyl comes from China"}, false},
		{"onear right order", "china ONEAR/3 fentanyl", news.Article{Content: "China exports fentanyl"}, true},
		{"near han counts characters", "中国 NEAR/2 芬太尼", news.Article{Content: "中国的芬太尼"}, true},
		{"near with groups", "(china OR beijing) NEAR/2 (fentanyl OR opioid*)", news.Article{Content: "Beijing curbs opioids"}, true},
		{"atleast", "ATLEAST/3 fentanyl", news.Article{Title: "fentanyl", Content: "fentanyl and fentanyl"}, true},
		{"atleast short", "ATLEAST/3 fentanyl", news.Article{Content: "fentanyl and fentanyl"}, false},
		{"atleast group", "ATLEAST/3 (fentanyl OR carfentanil)", news.Article{Content: "fentanyl, carfentanil, fentanyl"}, true},
		{"atleast scoped", "ATLEAST/2 content:fentanyl", news.Article{Title: "fentanyl", Content: "fentanyl"}, false},
		{"overlapping keys", `china AND "south china sea"`, news.Article{Content: "the South China Sea"}, true},
		{"same key two ways", "china AND NOT china*", news.Article{Content: "China"}, false},
		{"prefix and exact", "china* AND NOT china", news.Article{Content: "Chinatown"}, true},
		{"initialism not a word", "us", news.Article{Content: "a U.Sb thing"}, false},
		{"accented term at a boundary", "café", news.Article{Content: "a Café, then"}, true},
		{"accented term inside a word", "café", news.Article{Content: "two cafés"}, false},
		{"han inside han", "北京", news.Article{Content: "在北京的会谈"}, true},
		{"overlapping han keys both hit", "美国 AND 国会", news.Article{Content: "美国会"}, true},
		{"nested latin keys both hit", `york AND "new york"`, news.Article{Content: "in New York"}, true},
		{"spanish", "fentanilo", news.Article{Content: "decomiso de fentanilo en Sinaloa"}, true},
		{"empty article", "fentanyl", news.Article{}, false},
		{"invalid utf-8 around a term", "fentanyl", news.Article{Content: "\xff\xfe\xfd fentanyl \xff"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, config.Topic{ID: "t", Query: tt.query})
			if got := matched(c, &tt.art); got != tt.want {
				t.Errorf("query %s on %+v: matched %v, want %v\n%s", tt.query, tt.art, got, tt.want, explainText(c, &tt.art))
			}
		})
	}
}

func explainText(c *Classifier, a *news.Article) string {
	var b strings.Builder
	_ = WriteExplanation(&b, c.Explain(a, ""))
	return b.String()
}

func TestScoreAndMinScore(t *testing.T) {
	topic := config.Topic{ID: "f", Query: "fentanyl OR opioid*", MinScore: 4}
	c := mustNew(t, topic)
	tests := []struct {
		art       news.Article
		wantScore float64
		want      bool
	}{
		{news.Article{Content: "fentanyl"}, 1, false},
		{news.Article{Title: "Fentanyl", Content: "fentanyl"}, 4, true}, // title weighs 3
		{news.Article{Content: "fentanyl opioids fentanyl opioid"}, 4, true},
		{news.Article{Content: "nothing"}, 0, false},
	}
	for _, tt := range tests {
		ex := c.Explain(&tt.art, "f")
		if len(ex) != 1 {
			t.Fatalf("Explain returned %d explanations", len(ex))
		}
		if ex[0].Score != tt.wantScore || ex[0].Matched != tt.want {
			t.Errorf("%+v: score %v matched %v, want %v %v", tt.art, ex[0].Score, ex[0].Matched, tt.wantScore, tt.want)
		}
		if got := matched(c, &tt.art); got != tt.want {
			t.Errorf("%+v: Classify matched %v, want %v", tt.art, got, tt.want)
		}
	}

	weighted := mustNew(t, config.Topic{ID: "w", Query: "fentanyl^2", MinScore: 10, Weights: map[string]float64{"title": 5}})
	ms := weighted.Classify(&news.Article{Title: "fentanyl", Content: "fentanyl"})
	if len(ms) != 1 || ms[0].Score != 12 {
		t.Errorf("boost and weights: got %+v, want score 2*(5+1)=12", ms)
	}
}

func TestClassifyMatches(t *testing.T) {
	c := mustNew(t,
		config.Topic{ID: "a", Query: `fentanyl OR "synthetic opioid*" OR 芬太尼`},
		config.Topic{ID: "b", Query: "tariff*"},
		config.Topic{ID: "c", Query: "NOT tariff*"},
	)
	art := &news.Article{
		Title:   "Fentanyl flows",
		Content: strings.Repeat("Filler words that pad the text. ", 10) + "Agents seized fentanyl and synthetic opioids, 芬太尼, at the port.",
	}
	got := c.Classify(art)
	if len(got) != 2 || got[0].Topic != "a" || got[1].Topic != "c" {
		t.Fatalf("topics = %+v, want a and c", got)
	}
	want := map[string]news.Match{
		"title":   {Term: "fentanyl", Field: "title", Count: 1, Snippet: "«Fentanyl» flows"},
		"content": {Term: "fentanyl", Field: "content", Count: 1},
	}
	var sawPhrase, sawHan bool
	for _, m := range got[0].Matches {
		switch m.Term {
		case "fentanyl":
			w := want[m.Field]
			if m.Count != w.Count || (w.Snippet != "" && m.Snippet != w.Snippet) {
				t.Errorf("match %+v, want %+v", m, w)
			}
			if m.Field == "content" && (!strings.Contains(m.Snippet, "seized «fentanyl» and") || !strings.HasPrefix(m.Snippet, "…") || len([]rune(m.Snippet)) > 180) {
				t.Errorf("content snippet %q", m.Snippet)
			}
		case `"synthetic opioid*"`:
			sawPhrase = strings.Contains(m.Snippet, "«synthetic opioids»")
		case "芬太尼":
			sawHan = strings.Contains(m.Snippet, "«芬太尼»")
		}
	}
	if !sawPhrase || !sawHan {
		t.Errorf("phrase or Han match missing or badly marked: %+v", got[0].Matches)
	}
}

func TestSnippetMapsFoldedOffsets(t *testing.T) {
	c := mustNew(t, config.Topic{ID: "t", Query: "china"})
	// Curly quotes, initialisms, collapsed space and entities all shift
	// offsets between the folded and the clean text.
	art := &news.Article{Content: "“The U.S.   &amp; its ‘allies’ – said\n\nthat China’s role"}
	ms := c.Classify(art)
	if len(ms) != 1 {
		t.Fatal("no match")
	}
	if s := ms[0].Matches[0].Snippet; !strings.Contains(s, "that «China»’s role") {
		t.Errorf("snippet %q does not mark China", s)
	}
}

func TestExplainMiss(t *testing.T) {
	c := mustNew(t,
		config.Topic{ID: "and", Query: "china AND (tariff* OR sanction*)"},
		config.Topic{ID: "not", Query: "china AND NOT taiwan"},
		config.Topic{ID: "least", Query: "ATLEAST/3 china"},
		config.Topic{ID: "near", Query: "china NEAR/1 trade"},
		config.Topic{ID: "score", Query: "china", MinScore: 5},
	)
	art := &news.Article{Content: "China and Taiwan discussed many things, and trade."}
	want := map[string]string{
		"and":   "tariff* OR sanction*: none found",
		"not":   "NOT taiwan: taiwan was found",
		"least": "ATLEAST/3 china: found 1 time(s), need 3",
		"near":  "china NEAR/1 trade: both found, never within 1 words in one field",
		"score": "score 1 is below min_score 5",
	}
	ex := c.Explain(art, "")
	if len(ex) != len(want) {
		t.Fatalf("got %d explanations", len(ex))
	}
	for _, e := range ex {
		if e.Matched || e.Failed != want[e.Topic] {
			t.Errorf("%s: matched=%v failed=%q, want %q", e.Topic, e.Matched, e.Failed, want[e.Topic])
		}
	}
	if one := c.Explain(art, "near"); len(one) != 1 || one[0].Topic != "near" {
		t.Errorf("Explain for one topic: %+v", one)
	}
	var b strings.Builder
	if err := WriteExplanation(&b, ex); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"least: no match, score 1", "failed: NOT taiwan", "content   china ×1  «China» and Taiwan"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("explanation text lacks %q:\n%s", s, b.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		query string
		pos   int
		msg   string
	}{
		{"", 0, "expected a term"},
		{"fentanyl opioid", 9, "expected AND, OR, NEAR/n or end of query"},
		{"china and trade", 6, "operators are written in upper case"},
		{"(china OR trade", 15, "expected ')' to close the '(' at position 0"},
		{"china)", 5, "unbalanced ')'"},
		{`"synthetic opioid`, 0, "unterminated phrase"},
		{"headline:china", 0, `unknown field "headline"`},
		{"china NEAR trade", 6, "expected NEAR/n"},
		{"china NEAR/0 trade", 6, "expected NEAR/n"},
		{"(a AND b) NEAR/3 c", 1, "NEAR/3 takes terms"},
		{"ATLEAST/2 (a AND b)", 11, "ATLEAST/2 takes a term"},
		{"a NEAR/2 b NEAR/2 c", 11, "second NEAR/2"},
		{"china AND", 9, "found end of query: expected a term"},
		{"fent*anyl", 5, "expected AND, OR"},
		{"china^x", 5, "expected a boost"},
		{"{US", 0, "unterminated exact-case term"},
		{`"..."`, 0, "has no letters or digits"},
		{"title:", 6, "expected a term"},
	}
	for _, tt := range tests {
		_, err := New([]config.Topic{{ID: "t", Query: tt.query}})
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v is not a *ParseError", tt.query, err)
			continue
		}
		if pe.Topic != "t" || pe.Pos != tt.pos || !strings.Contains(pe.Msg, tt.msg) {
			t.Errorf("%q: got %q at %d, want %q at %d", tt.query, pe.Msg, pe.Pos, tt.msg, tt.pos)
		}
	}
}

func TestParseErrorsJoined(t *testing.T) {
	_, err := New([]config.Topic{
		{ID: "one", Query: "a AND"},
		{ID: "ok", Query: "a"},
		{ID: "two", Query: "(b"},
		{ID: "three", Query: "c", Weights: map[string]float64{"body": 2}},
	})
	if err == nil {
		t.Fatal("no error")
	}
	var topics []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *ParseError
		if !errors.As(e, &pe) {
			t.Fatalf("%v is not a *ParseError", e)
		}
		topics = append(topics, pe.Topic)
	}
	if strings.Join(topics, ",") != "one,two,three" {
		t.Errorf("errors for topics %v, want one,two,three", topics)
	}
	if !strings.Contains(err.Error(), `topic "two": query position 2: found end of query: expected ')'`) {
		t.Errorf("error text: %v", err)
	}
}

func TestPrintRoundTrip(t *testing.T) {
	for _, q := range []string{
		"fentanyl",
		`title:"synthetic opioid*"^2 OR opioid* AND NOT -x`,
		"(a OR b) AND (c OR d) AND NOT (e AND f)",
		"a NEAR/3 (b OR c) OR d ONEAR/2 e",
		"ATLEAST/3 (fentanyl OR content:carfentanil) AND {US}^1.5",
		"芬太尼 OR 美中",
	} {
		n, err := parse("t", q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		printed := n.String()
		m, err := parse("t", printed)
		if err != nil {
			t.Fatalf("%q printed as %q: %v", q, printed, err)
		}
		if again := m.String(); again != printed {
			t.Errorf("%q: printed %q, then %q", q, printed, again)
		}
	}
	n, _ := parse("t", "a AND b OR c AND d")
	if got := n.String(); got != "(a AND b) OR (c AND d)" {
		t.Errorf("precedence: %q", got)
	}
}

func TestConcurrentClassify(t *testing.T) {
	c := mustNew(t, config.Topic{ID: "f", Query: "fentanyl NEAR/3 china"}, config.Topic{ID: "u", Query: "tariff*"})
	arts := []news.Article{
		{Content: "fentanyl from China"},
		{Content: "new tariffs"},
		{Content: "nothing here"},
	}
	want := []int{1, 1, 0}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				k := i % len(arts)
				if got := len(c.Classify(&arts[k])); got != want[k] {
					t.Errorf("article %d: %d topics, want %d", k, got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"U.S. and U.K.", "us and uk"},
		{"The U.S.-China row", "the us china row"},
		{"e.g. this", "eg this"},
		{"A. Smith", "a. smith"},
		{"“Quoted” — ‘text’", `"quoted" 'text'`},
		{"  lots \n\t of   space ", "lots of space "},
		{"美國與中國", "美国与中国"},
		{"soft\u00adhyphen", "softhyphen"},
		{"\xff\xfe\xfd", "\ufffd\ufffd\ufffd"}, // each invalid byte triples in size
	}
	for _, tt := range tests {
		var f folder
		f.fold(tt.in, noKeys)
		if got := string(f.out); got != tt.want {
			t.Errorf("fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTradToSimpTable(t *testing.T) {
	for trad, simp := range tradToSimp {
		if _, chained := tradToSimp[simp]; chained {
			t.Errorf("%c maps to %c, which is itself mapped", trad, simp)
		}
	}
	// The Traditional forms of the default topics' Chinese terms.
	for _, pair := range [][2]string{
		{"中國", "中国"}, {"習近平", "习近平"}, {"華為", "华为"}, {"美國", "美国"},
		{"華盛頓", "华盛顿"}, {"白宮", "白宫"}, {"關稅", "关税"}, {"貿易戰", "贸易战"},
		{"用藥過量", "用药过量"}, {"吸毒過量", "吸毒过量"},
	} {
		if got := foldString(pair[0]); got != pair[1] {
			t.Errorf("fold(%s) = %s, want %s", pair[0], got, pair[1])
		}
	}
	for _, pair := range []string{"國国", "關关", "貿贸", "習习", "臺台", "灣湾", "緝缉", "鴉鸦", "華华", "頓顿"} {
		r := []rune(pair)
		if tradToSimp[r[0]] != r[1] {
			t.Errorf("%c -> %c, want %c", r[0], tradToSimp[r[0]], r[1])
		}
	}
}

func TestIsNFKC(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"plain ascii text that is longer than eight bytes", true},
		{"composed café and 中文 and “quotes”", true},
		{"decomposed cafe\u0301 at the end of a long ascii run", false},
		{"full-width ＡＢ", false},
		{"no\u00a0break", false},
		{"ligature ﬁ", false},
	}
	for _, tt := range tests {
		if got := isNFKC(tt.in); got != tt.want {
			t.Errorf("isNFKC(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestQueriesDocExamples keeps the examples in docs/queries.md valid.
func TestQueriesDocExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/queries.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "## Examples\n\n```\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || block == "" {
		t.Fatal("docs/queries.md has no Examples block")
	}
	n := 0
	for _, line := range strings.Split(block, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		if _, err := New([]config.Topic{{ID: "example", Query: line}}); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
	if n < 3 {
		t.Errorf("found %d examples, want at least 3", n)
	}
}
