package classifier

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"newswatch/config"
	"newswatch/internal/fixture"
	"newswatch/news"
)

// fixtures is where the shared test material lives: the repository is
// cloned next to shared/, locally and in CI.
var fixtures = fixture.Dir()

// defaultTopicsFile is the shipped config, whose topics are the defaults.
const defaultTopicsFile = "../config.yaml"

func loadTopics(t testing.TB, path string) []config.Topic {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c.Topics
}

type labeled struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	URL      string `json:"url"`
	Fentanyl bool   `json:"fentanyl"`
	USChina  bool   `json:"us_china"`
	Note     string `json:"note"`
}

func (l *labeled) article() *news.Article {
	return &news.Article{ID: l.ID, Title: l.Title, Content: l.Text, URL: l.URL}
}

func (l *labeled) label(topic string) bool {
	switch topic {
	case "fentanyl":
		return l.Fentanyl
	case "us-china":
		return l.USChina
	}
	return false
}

func loadLabeled(t testing.TB) []labeled {
	t.Helper()
	path := fixture.Path(t, "labeled", "articles.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []labeled
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var l labeled
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDefaultTopicsOnLabeledSet measures the default topics against the
// hand-labelled articles and fails if they fall below the reached quality.
//
//	go test ./classifier/ -run TestDefaultTopicsOnLabeledSet -v
func TestDefaultTopicsOnLabeledSet(t *testing.T) {
	arts := loadLabeled(t)
	topicsPath := defaultTopicsFile
	if p := os.Getenv("NEWSWATCH_TOPICS"); p != "" {
		topicsPath = p // for tuning: try another topics file
	}
	topics := loadTopics(t, topicsPath)
	c := mustNew(t, topics...)
	// Thresholds reached by the topics of config.yaml; a change that
	// lowers them must be a deliberate one.
	minimum := map[string]struct{ p, r float64 }{
		"fentanyl": {0.9, 0.9},
		"us-china": {0.9, 0.9},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-10s %4s %4s %4s %4s  %9s %6s %6s\n", "topic", "tp", "fp", "fn", "tn", "precision", "recall", "f1")
	for _, tp := range topics {
		var tpos, fpos, fneg, tneg int
		for i := range arts {
			l := &arts[i]
			got := false
			for _, m := range c.Classify(l.article()) {
				got = got || m.Topic == tp.ID
			}
			want := l.label(tp.ID)
			switch {
			case got && want:
				tpos++
			case got && !want:
				fpos++
				t.Logf("%s false positive: %s %q (%s)", tp.ID, l.ID, l.Title, l.Note)
			case !got && want:
				fneg++
				t.Logf("%s false negative: %s %q (%s)\n%s", tp.ID, l.ID, l.Title, l.Note, explainText(c, l.article()))
			default:
				tneg++
			}
		}
		p := float64(tpos) / float64(max(1, tpos+fpos))
		r := float64(tpos) / float64(max(1, tpos+fneg))
		f1 := 0.0
		if p+r > 0 {
			f1 = 2 * p * r / (p + r)
		}
		fmt.Fprintf(&table, "%-10s %4d %4d %4d %4d  %9.3f %6.3f %6.3f\n", tp.ID, tpos, fpos, fneg, tneg, p, r, f1)
		if m, ok := minimum[tp.ID]; ok && topicsPath == defaultTopicsFile && (p < m.p || r < m.r) {
			t.Errorf("%s: precision %.3f recall %.3f, want at least %.2f and %.2f", tp.ID, p, r, m.p, m.r)
		}
	}
	t.Logf("%d labeled articles\n%s", len(arts), table.String())
}

// TestSeedArticle checks the seed article gets both default topics.
func TestSeedArticle(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "seed-article.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, loadTopics(t, defaultTopicsFile)...)
	got := map[string]bool{}
	for _, m := range c.Classify(&news.Article{Content: string(data)}) {
		got[m.Topic] = true
	}
	if !got["fentanyl"] || !got["us-china"] {
		t.Errorf("seed article got %v, want fentanyl and us-china\n%s", got, explainText(c, &news.Article{Content: string(data)}))
	}
}

// TestDefaultTopicsPassingMentions checks short texts that mention a topic
// in passing do not alert, and ones about it do.
func TestDefaultTopicsPassingMentions(t *testing.T) {
	c := mustNew(t, loadTopics(t, defaultTopicsFile)...)
	tests := []struct {
		art  news.Article
		want string // topics, comma-separated
	}{
		{news.Article{Title: "Stocks rally", Content: "Markets rose. A toxicology report listed fentanyl among other substances."}, ""},
		{news.Article{Title: "Border agents seize record fentanyl haul", Content: "Agents seized 11,000 pounds of fentanyl at the Nogales port of entry, officials said."}, "fentanyl"},
		{news.Article{Title: "Chinatown festival draws crowds", Content: "The bus took us to Chinatown."}, ""},
		{news.Article{Title: "Weather", Content: "Sunny in China today, said the US embassy."}, ""},
		{news.Article{Title: "US and China agree to resume trade talks", Content: "Washington and Beijing will resume talks on tariffs, the U.S. Trade Representative said."}, "us-china"},
		{news.Article{Title: "Aseguran 300 kilos de fentanilo en Sinaloa", Content: "La Marina decomisó el cargamento en Culiacán."}, "fentanyl"},
		{news.Article{Title: "中美贸易谈判重启", Content: "美国与中国就关税问题重启谈判。"}, "us-china"},
		{news.Article{Title: "美國財政部制裁中國芬太尼前體供應商", Content: "美國財政部宣布制裁多家中國公司，指其向墨西哥販毒集團供應芬太尼前體化學品。芬太尼危機。"}, "fentanyl,us-china"},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range c.Classify(&tt.art) {
			got = append(got, m.Topic)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%q: topics %v, want %q\n%s", tt.art.Title, got, tt.want, explainText(c, &tt.art))
		}
	}
}
