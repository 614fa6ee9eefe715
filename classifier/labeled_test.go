package classifier

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
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
	// USChinaFentanyl is labelled in dev2.jsonl and in testdata; absent
	// (nil) in articles.jsonl, whose texts are then not counted for it.
	USChinaFentanyl *bool  `json:"us_china_fentanyl"`
	Note            string `json:"note"`
}

func (l *labeled) article() *news.Article {
	return &news.Article{ID: l.ID, Title: l.Title, Content: l.Text, URL: l.URL}
}

// label returns the label of l for topic and whether l has one.
func (l *labeled) label(topic string) (bool, bool) {
	switch topic {
	case "fentanyl":
		return l.Fentanyl, true
	case "us-china":
		return l.USChina, true
	case "us-china-fentanyl":
		if l.USChinaFentanyl == nil {
			return false, false
		}
		return *l.USChinaFentanyl, true
	}
	return false, false
}

// loadLabeled reads the 61 labelled articles of articles.jsonl.
func loadLabeled(t testing.TB) []labeled {
	t.Helper()
	return loadLabeledFile(t, fixture.Path(t, "labeled", "articles.jsonl"))
}

func loadLabeledFile(t testing.TB, path string) []labeled {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []labeled
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l labeled
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tuneHalf splits dev2 in two fixed halves: FNV-1a (32 bit) of the
// text's id, even or odd (66 and 51 texts). The split once kept the odd
// half out of tuning; that half has since been read and the default
// queries are now tuned on all of dev2, so neither half is held out.
// The halves are still printed, as a rough sign of how evenly the
// queries do across dev2; the honest figures will come from a set
// labelled separately (docs/classifier.md).
func tuneHalf(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%2 == 0
}

// labeledSet is one evaluation set, with the floors the default topics
// must stay above on it.
type labeledSet struct {
	name  string
	texts []labeled
	// goal: topics whose precision and recall must reach 0.9 here.
	goal []string
	// floor: topic -> the precision and recall reached, which a change
	// may only raise.
	floor map[string][2]float64
}

// score counts the default topics' verdicts on a set.
type score struct{ tp, fp, fn, tn int }

func (s score) precision() float64 { return float64(s.tp) / float64(max(1, s.tp+s.fp)) }
func (s score) recall() float64    { return float64(s.tp) / float64(max(1, s.tp+s.fn)) }

func evaluate(t *testing.T, c *Classifier, topic string, texts []labeled, logErrors bool) score {
	var s score
	for i := range texts {
		l := &texts[i]
		want, ok := l.label(topic)
		if !ok {
			continue
		}
		got := false
		for _, m := range c.Classify(l.article()) {
			got = got || m.Topic == topic
		}
		switch {
		case got && want:
			s.tp++
		case got && !want:
			s.fp++
			if logErrors {
				t.Logf("%s false positive: %s %q (%s)", topic, l.ID, l.Title, l.Note)
			}
		case !got && want:
			s.fn++
			if logErrors {
				t.Logf("%s false negative: %s %q (%s)\n%s", topic, l.ID, l.Title, l.Note, explainText(c, l.article()))
			}
		default:
			s.tn++
		}
	}
	return s
}

// TestDefaultTopicsOnLabeledSet measures the default topics against the
// hand-labelled texts (articles.jsonl, dev2.jsonl, the three sets labelled
// blind in testdata/labeled, and for the bilateral fentanyl topic the
// examples in testdata) and fails if they fall below the goal or the
// floors. Every error is listed. The queries are tuned on articles and
// dev2, and on the three blind sets after their blind figures were
// taken (README has those). dev2 is also printed in its two fixed halves
// (tuneHalf).
//
//	go test ./classifier/ -run TestDefaultTopicsOnLabeledSet -v
func TestDefaultTopicsOnLabeledSet(t *testing.T) {
	arts := loadLabeled(t)
	dev2 := loadLabeledFile(t, fixture.Path(t, "labeled", "dev2.jsonl"))
	own := loadLabeledFile(t, filepath.Join("testdata", "us-china-fentanyl.jsonl"))
	// Labelled blind, after the queries were tuned on articles and dev2
	// (testdata/labeled/README.md).
	unseen := loadLabeledFile(t, filepath.Join("testdata", "labeled", "unseen.jsonl"))
	unseen2 := loadLabeledFile(t, filepath.Join("testdata", "labeled", "unseen2.jsonl"))
	unseen3 := loadLabeledFile(t, filepath.Join("testdata", "labeled", "unseen3.jsonl"))
	unseen4 := loadLabeledFile(t, filepath.Join("testdata", "labeled", "unseen4.jsonl"))
	unseen5 := loadLabeledFile(t, filepath.Join("testdata", "labeled", "unseen5.jsonl"))
	unseen6 := loadLabeledFile(t, filepath.Join("testdata", "labeled", "unseen6.jsonl"))
	var even, odd []labeled
	for _, l := range dev2 {
		if tuneHalf(l.ID) {
			even = append(even, l)
		} else {
			odd = append(odd, l)
		}
	}
	topicsPath := defaultTopicsFile
	if p := os.Getenv("NEWSWATCH_TOPICS"); p != "" {
		topicsPath = p // for tuning: try another topics file
	}
	topics := loadTopics(t, topicsPath)
	c := mustNew(t, topics...)
	// The goal: precision and recall of at least 0.9 for fentanyl and
	// us-china, asserted where it is reached. The floors hold the figures
	// reached: on articles and dev2, fentanyl without an error, us-china
	// with one false positive (a G-7 trade story where China is one of
	// several countries pushing back on US tariffs); on the blind sets,
	// well below the goal for fentanyl.
	goal := []string{"fentanyl", "us-china"}
	both := append(append([]labeled(nil), arts...), dev2...)
	sets := []labeledSet{
		{"articles", arts, goal, map[string][2]float64{"fentanyl": {1, 1}, "us-china": {1, 1}}},
		{"dev2-even", even, goal, nil},
		{"dev2-odd", odd, goal, nil},
		{"dev2", dev2, goal, map[string][2]float64{"fentanyl": {1, 1}, "us-china": {0.97, 1}}},
		{"articles+dev2", both, goal, map[string][2]float64{"fentanyl": {1, 1}, "us-china": {0.98, 1}}},
		// The blind sets: the figures after their errors were read
		// (their blind ones are lower or equal; README).
		{"unseen", unseen, []string{"us-china"}, map[string][2]float64{"fentanyl": {1, 0.62}, "us-china": {1, 1}}},
		{"unseen2", unseen2, nil, map[string][2]float64{"fentanyl": {0.75, 0.66}, "us-china": {0.87, 0.87}}},
		{"unseen3", unseen3, []string{"us-china"}, map[string][2]float64{"fentanyl": {0.88, 1}, "us-china": {1, 1}}},
		// Measured once, blind; its errors read, no rule changed.
		{"unseen4", unseen4, []string{"fentanyl"}, map[string][2]float64{"fentanyl": {0.95, 0.95}, "us-china": {0.33, 0.5}}},
		{"unseen5", unseen5, nil, nil},
		// Measured once, blind; after its errors were read, one rule:
		// "North America" does not name the US (README).
		{"unseen6", unseen6, nil, map[string][2]float64{"fentanyl": {1, 0.81}, "us-china": {0.8, 0.8}}},
		{"us-china-fentanyl", append(append([]labeled(nil), dev2...), own...), nil, nil},
	}
	var table, below strings.Builder
	fmt.Fprintf(&table, "%-18s %-18s %4s %4s %4s %4s  %9s %6s\n", "set", "topic", "tp", "fp", "fn", "tn", "precision", "recall")
	for _, set := range sets {
		for _, tp := range topics {
			if set.name == "us-china-fentanyl" && tp.ID != "us-china-fentanyl" {
				continue
			}
			// Errors are listed once: on the two source files, and for
			// the bilateral topic on its own set.
			logErrors := set.name == "articles" || set.name == "dev2" || set.name == "unseen" || set.name == "unseen2" || set.name == "unseen3" || set.name == "unseen4" || set.name == "unseen5" || set.name == "unseen6" || (set.name == "us-china-fentanyl" && tp.ID == "us-china-fentanyl")
			if tp.ID == "us-china-fentanyl" && set.name == "dev2" {
				logErrors = false
			}
			s := evaluate(t, c, tp.ID, set.texts, logErrors)
			if s.tp+s.fp+s.fn+s.tn == 0 {
				continue
			}
			fmt.Fprintf(&table, "%-18s %-18s %4d %4d %4d %4d  %9.3f %6.3f\n", set.name, tp.ID, s.tp, s.fp, s.fn, s.tn, s.precision(), s.recall())
			met := s.precision() >= 0.9 && s.recall() >= 0.9
			if !met && (tp.ID == "fentanyl" || tp.ID == "us-china") {
				fmt.Fprintf(&below, "%s on %s: precision %.3f recall %.3f, below the 0.9 goal\n", tp.ID, set.name, s.precision(), s.recall())
			}
			if topicsPath != defaultTopicsFile {
				continue
			}
			if !met && slices.Contains(set.goal, tp.ID) {
				t.Errorf("%s on %s: precision %.3f recall %.3f, want at least 0.9 and 0.9", tp.ID, set.name, s.precision(), s.recall())
			}
			if f, ok := set.floor[tp.ID]; ok && (s.precision() < f[0] || s.recall() < f[1]) {
				t.Errorf("%s on %s: precision %.3f recall %.3f, fell below %.2f and %.2f", tp.ID, set.name, s.precision(), s.recall(), f[0], f[1])
			}
		}
	}
	if own := sets[len(sets)-1]; topicsPath == defaultTopicsFile {
		if s := evaluate(t, c, "us-china-fentanyl", own.texts, false); s.precision() < 1 || s.recall() < 1 {
			t.Errorf("us-china-fentanyl on dev2 and own examples: precision %.3f recall %.3f, want 1 and 1", s.precision(), s.recall())
		}
	}
	t.Logf("%d + %d labelled texts (dev2 halves: %d even, %d odd), %d own examples, %d + %d + %d + %d + %d + %d unseen\n%s%s", len(arts), len(dev2), len(even), len(odd), len(own), len(unseen), len(unseen2), len(unseen3), len(unseen4), len(unseen5), len(unseen6), table.String(), below.String())
}

// kappa is Cohen's kappa of two readers' yes/no labels, with s counting
// the first reader as truth: agreement beyond what chance gives.
func (s score) kappa() float64 {
	n := float64(s.tp + s.fp + s.fn + s.tn)
	agree := float64(s.tp+s.tn) / n
	chance := (float64(s.tp+s.fp)*float64(s.tp+s.fn) + float64(s.fn+s.tn)*float64(s.fp+s.tn)) / (n * n)
	return (agree - chance) / (1 - chance)
}

// TestSecondReaderOnDev2 compares dev2's labels with those of a second
// reader who labelled the same texts blind, under the same rules
// (testdata/labeled/README.md): how far two careful readers part on
// these topics bounds what any query can be held to. The figures are
// the ones the README quotes.
func TestSecondReaderOnDev2(t *testing.T) {
	dev2 := loadLabeledFile(t, fixture.Path(t, "labeled", "dev2.jsonl"))
	second := map[string]labeled{}
	for _, l := range loadLabeledFile(t, filepath.Join("testdata", "labeled", "dev2-reader2.jsonl")) {
		second[l.ID] = l
	}
	if len(second) != len(dev2) {
		t.Fatalf("second reader labelled %d texts, dev2 has %d", len(second), len(dev2))
	}
	want := map[string]struct {
		s     score
		kappa float64
	}{
		"fentanyl": {score{tp: 12, fp: 2, fn: 0, tn: 103}, 0.91},
		"us-china": {score{tp: 38, fp: 1, fn: 2, tn: 76}, 0.94},
	}
	for topic, w := range want {
		var s score
		for _, gold := range dev2 {
			other, ok := second[gold.ID]
			if !ok {
				t.Fatalf("second reader has no label for %s", gold.ID)
			}
			g, _ := gold.label(topic)
			o, _ := other.label(topic)
			switch {
			case g && o:
				s.tp++
			case o:
				s.fp++
				t.Logf("%s: only the second reader says yes: %s (%s)", topic, gold.ID, other.Note)
			case g:
				s.fn++
				t.Logf("%s: only dev2 says yes: %s (%s)", topic, gold.ID, gold.Note)
			default:
				s.tn++
			}
		}
		t.Logf("%s: the second reader against dev2: precision %.3f recall %.3f, kappa %.2f", topic, s.precision(), s.recall(), s.kappa())
		if s != w.s || fmt.Sprintf("%.2f", s.kappa()) != fmt.Sprintf("%.2f", w.kappa) {
			t.Errorf("%s: %+v kappa %.2f, want %+v kappa %.2f (the README's figures)", topic, s, s.kappa(), w.s, w.kappa)
		}
	}
}

// TestSeedArticle checks the seed article gets all three default topics.
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
	if !got["fentanyl"] || !got["us-china"] || !got["us-china-fentanyl"] {
		t.Errorf("seed article got %v, want fentanyl, us-china and us-china-fentanyl\n%s", got, explainText(c, &news.Article{Content: string(data)}))
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
		// The edges issue 13 names: a pharma verdict that mentions
		// fentanyl patches, a sentencing-reform interview with one
		// fentanyl clause.
		{news.Article{Title: "Jury finds drugmakers liable in opioid trial", Content: "A jury found three drug companies liable for fuelling the opioid epidemic. The verdict covers sales of prescription painkillers, including oxycodone pills and fentanyl patches, from 2006 to 2014. The companies said they would appeal."}, ""},
		{news.Article{Title: "Senator on the sentencing bill", Content: "In an interview the senator said the bill would shorten mandatory minimums for nonviolent offenders and expand early release. Asked about drugs, she said penalties for fentanyl dealers would stay. Most of the bill concerns prison programmes and judges' discretion."}, ""},
		{news.Article{Title: "Aseguran 300 kilos de fentanilo en Sinaloa", Content: "La Marina decomisó el cargamento en Culiacán."}, "fentanyl"},
		{news.Article{Title: "中美贸易谈判重启", Content: "美国与中国就关税问题重启谈判。"}, "us-china"},
		// Official texts: a drug-policy proclamation that names fentanyl
		// among opioids and overdoses; a security dialogue whose
		// headline and lead are not about drugs, with a passage on
		// fentanyl; a short statement on a fentanyl trafficker's arrest.
		{news.Article{Title: "A Proclamation on Overdose Awareness Week", Content: "This week we remember the Americans lost to drug overdoses and renew our commitment to the families and communities who carry that loss every day. Overdose deaths fell last year for the first time in years, thanks to the work of first responders, clinicians, peer counselors and neighbors across the country who never gave up on anyone. Naloxone reverses opioid overdoses, and we made it available over the counter. We expanded treatment for opioid use disorder. Illicit fentanyl remains the main driver of overdose deaths, and fentanyl test strips save lives."}, ""},
		{news.Article{Title: "Joint Statement: U.S.-Mexico High-Level Security Dialogue", Content: "This year our governments celebrate two centuries of bilateral relations and the anniversary of our framework for security, public health and safe communities. The delegations reviewed progress on firearms, migration, cybersecurity, financial crime and the protection of migrants and human rights defenders, and agreed on a work plan for the coming year with regular meetings of experts from both governments. Customs officers seized fentanyl pills at the ports. Mexico seized fentanyl powder. Both countries warned of fentanyl in counterfeit pills. Laboratories making fentanyl were dismantled. Fentanyl seizures rose. The fentanyl working group will meet again."}, ""},
		// A readout whose headline names a counternarcotics working
		// group, with the drug in its text, not in its headline.
		{news.Article{Title: "Readout of the Bilateral Counternarcotics Working Group Meeting", Content: "Officials discussed law enforcement cooperation against illicit synthetic drugs, including fentanyl, and the precursor chemicals used to make them."}, "fentanyl"},
		// A US statement on China's regions: Xinjiang and the Uyghurs
		// count as China in the official-statement rule.
		{news.Article{Title: "Statement by Press Secretary on the Uyghur Forced Labor Prevention Act", Content: "We agree with Congress that action must be taken to hold the People's Republic of China accountable for forced labor in Xinjiang. We will keep working with allies to remove goods made with the forced labor of Uyghurs from supply chains."}, "us-china"},
		// An order whose headline names the synthetic opioid supply
		// chain is about fentanyl when its text names the drug; the
		// same headline on a text that never names it is a trade
		// measure.
		{news.Article{Title: "Imposing Duties to Address the Synthetic Opioid Supply Chain", Content: "The flow of illicit synthetic opioids, including fentanyl, is a national emergency. Additional duties apply until the supply chain is cut."}, "fentanyl"},
		{news.Article{Title: "Amendment to Duties Addressing the Synthetic Opioid Supply Chain", Content: "Section 2(g) of the order is amended to read: duty-free de minimis treatment remains available until notification that systems are in place."}, ""},
		{news.Article{Title: "Statement on the Arrest of a Sinaloa Cartel Leader", Content: "Mexican security forces have captured the head of security of a faction of the Sinaloa Cartel, one of the most wanted criminals of both our countries. He was indicted in the United States for violence and illicit fentanyl trafficking. Together we will counter the cartels and end the scourge of illicit fentanyl."}, "fentanyl"},
		// A US statement on the PRC says "we", not "the United States";
		// a US investment rule names China once, as the country of
		// concern it means.
		{news.Article{Title: "Statement from NSC Spokesperson on Hong Kong", Content: "Today marks the anniversary of the handover of Hong Kong to the People's Republic of China (PRC). We have witnessed the dismantling of its democratic institutions. The PRC's policies have shaken confidence in Hong Kong. We call on the PRC to act in accordance with its obligations."}, "us-china"},
		{news.Article{Title: "FACT SHEET: Addressing U.S. Investments in Countries of Concern", Content: "Countries of concern are exploiting certain U.S. outbound investments. The President identified the People's Republic of China as a country of concern. The Treasury rule prohibits investments in semiconductors, quantum computing and artificial intelligence in countries of concern."}, "us-china"},
		// "North America" is not the US: a Canadian story on China and
		// the continent's carfentanil does not name the US side.
		{news.Article{Title: "RCMP: China might not help with North America's carfentanil problem", Content: "Canada's police say Chinese labs ship carfentanil by mail and that Beijing has not answered requests for help. Carfentanil seizures rose in Vancouver and Toronto this year."}, "fentanyl"},
		{news.Article{Title: "美國財政部制裁中國芬太尼前體供應商", Content: "美國財政部宣布制裁多家中國公司，指其向墨西哥販毒集團供應芬太尼前體化學品。芬太尼危機。"}, "fentanyl,us-china,us-china-fentanyl"},
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
