package classifier

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"newswatch/config"
	"newswatch/news"
)

// Benchmarks (docs/benchmarks.md):
//
//	go test ./classifier/ -run '^$' -bench . -benchmem -cpu 1
//
// Each op classifies the same set of ~5 KB articles; MB/s counts their
// title and content bytes.

const benchArticleSize = 5 << 10

// benchArticles returns realistic news articles of about 5 KB: the labeled
// fixtures when present, else the seed article alone.
func benchArticles(b *testing.B) []news.Article {
	b.Helper()
	var texts []struct{ title, text string }
	if f, err := os.Open(filepath.Join(fixtures, "labeled", "articles.jsonl")); err == nil {
		f.Close()
		for _, l := range loadLabeled(b) {
			texts = append(texts, struct{ title, text string }{l.Title, l.Text})
		}
	}
	if len(texts) == 0 {
		seed, err := os.ReadFile(filepath.Join("testdata", "seed-article.txt"))
		if err != nil {
			b.Fatal(err)
		}
		texts = append(texts, struct{ title, text string }{"", string(seed)})
	}
	var arts []news.Article
	for _, t := range texts {
		text := t.text
		for len(text) < benchArticleSize {
			text += "\n\n" + t.text
		}
		cut := strings.LastIndexByte(text[:benchArticleSize], ' ')
		arts = append(arts, news.Article{Title: t.title, Content: text[:cut]})
	}
	return arts
}

func articleBytes(arts []news.Article) int64 {
	n := 0
	for _, a := range arts {
		n += len(a.Title) + len(a.Content)
	}
	return int64(n)
}

// cpuTimer measures the CPU time of the benchmark's own thread, which,
// unlike wall time, a busy shared machine does not inflate. It reports
// cpu-MB/s next to Go's wall-clock MB/s.
type cpuTimer struct {
	start time.Duration
	bytes int64
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B, bytes int64) *cpuTimer {
	runtime.LockOSThread()
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	return &cpuTimer{start: threadCPU(), bytes: bytes}
}

func (t *cpuTimer) stop(b *testing.B) {
	used := threadCPU() - t.start
	runtime.UnlockOSThread()
	if used > 0 {
		b.ReportMetric(float64(t.bytes)*float64(b.N)/used.Seconds()/1e6, "cpu-MB/s")
	}
}

// benchTerms builds n distinct search terms the way a monitoring desk's
// topic list looks: mostly words, some phrases and prefixes, a quarter of
// them likely to occur in news text (drawn from the articles) and the rest
// names and jargon that mostly do not.
func benchTerms(arts []news.Article, n int) []string {
	seen := map[string]bool{}
	var vocab []string
	var phrases []string
	for _, a := range arts {
		words := strings.FieldsFunc(a.Content, func(r rune) bool { return !unicode.IsLetter(r) })
		for i, w := range words {
			w = strings.ToLower(w)
			if len(w) >= 5 && !seen[w] {
				seen[w] = true
				vocab = append(vocab, w)
			}
			if i > 0 && len(w) >= 4 && len(words[i-1]) >= 4 && len(phrases) < 5000 {
				phrases = append(phrases, strings.ToLower(words[i-1])+" "+w)
			}
		}
	}
	sort.Strings(vocab)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(vocab), func(i, j int) { vocab[i], vocab[j] = vocab[j], vocab[i] })
	terms := map[string]bool{}
	var out []string
	add := func(t string) {
		if !terms[t] {
			terms[t] = true
			out = append(out, t)
		}
	}
	for i := 0; len(out) < n/4 && i < len(vocab); i++ {
		add(vocab[i])
	}
	for i := 0; len(out) < n/4+n/10 && len(phrases) > 0; i++ {
		add(`"` + phrases[rng.IntN(len(phrases))] + `"`)
	}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for len(out) < n {
		var b strings.Builder
		for range 5 + rng.IntN(8) {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		t := b.String()
		if rng.IntN(20) == 0 {
			t += "*"
		}
		add(t)
	}
	return out
}

// benchTopics spreads terms over k topics, each "ATLEAST/2 (…) AND NOT (…)".
func benchTopics(terms []string, k int) []config.Topic {
	per := len(terms) / k
	var topics []config.Topic
	for i := range k {
		ts := terms[i*per : (i+1)*per]
		neg := max(1, per/10)
		q := fmt.Sprintf("ATLEAST/2 (%s) AND NOT (%s)",
			strings.Join(ts[neg:], " OR "), strings.Join(ts[:neg], " OR "))
		topics = append(topics, config.Topic{ID: fmt.Sprintf("t%d", i), Query: q})
	}
	return topics
}

type benchSet struct {
	name   string
	topics func(b *testing.B, arts []news.Article) []config.Topic
}

var benchSets = []benchSet{
	{"default-topics", func(b *testing.B, _ []news.Article) []config.Topic { return loadTopics(b, defaultTopicsFile) }},
	{"200-terms", func(b *testing.B, arts []news.Article) []config.Topic { return benchTopics(benchTerms(arts, 200), 20) }},
	{"2000-terms", func(b *testing.B, arts []news.Article) []config.Topic { return benchTopics(benchTerms(arts, 2000), 20) }},
}

func BenchmarkClassify(b *testing.B) {
	arts := benchArticles(b)
	for _, set := range benchSets {
		c := mustNew(b, set.topics(b, arts)...)
		b.Run(set.name, func(b *testing.B) {
			ct := startCPU(b, articleBytes(arts))
			matches := 0
			for b.Loop() {
				for i := range arts {
					matches += len(c.Classify(&arts[i]))
				}
			}
			ct.stop(b)
			b.ReportMetric(float64(matches)/float64(b.N)/float64(len(arts)), "topics/article")
		})
	}
}

// BenchmarkScan is Classify without building results: normalisation, the
// automaton scan and query evaluation. It must not allocate.
func BenchmarkScan(b *testing.B) {
	arts := benchArticles(b)
	for _, set := range benchSets {
		c := mustNew(b, set.topics(b, arts)...)
		b.Run(set.name, func(b *testing.B) {
			ct := startCPU(b, articleBytes(arts))
			for b.Loop() {
				for i := range arts {
					c.count1(&arts[i])
				}
			}
			ct.stop(b)
		})
	}
}

// count1 is the allocation-free part of Classify: how many topics match.
func (c *Classifier) count1(a *news.Article) int {
	sc := c.pool.Get().(*scratch)
	defer c.pool.Put(sc)
	c.scan(a, sc)
	n := 0
	for i := range c.topics {
		t := &c.topics[i]
		if (t.always || sc.cand[i] == sc.epoch) && c.eval(t.query, sc) && c.score(t, sc) >= t.minScore {
			n++
		}
	}
	return n
}

func TestScanDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	c := mustNew(t, loadTopics(t, defaultTopicsFile)...)
	seed, err := os.ReadFile(filepath.Join("testdata", "seed-article.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Curly quotes, entities and a tag take the slower normalisation paths.
	a := &news.Article{Title: "U.S.–China <b>fentanyl</b> talks &amp; more", Content: string(seed)}
	c.count1(a)
	if n := testing.AllocsPerRun(50, func() { c.count1(a) }); n != 0 {
		t.Errorf("scan allocates %v times per article, want 0", n)
	}
}

// BenchmarkBaselineRegexp is what a user would write by hand: one
// case-insensitive, word-bounded regexp per distinct term, each run over
// the text. It runs over the first few articles only (MB/s does not
// depend on how many), or 2,000 regexps would take minutes per op.
func BenchmarkBaselineRegexp(b *testing.B) {
	all := benchArticles(b)
	arts := all[:min(len(all), 6)]
	for _, set := range benchSets {
		var res []*regexp.Regexp
		seen := map[string]bool{}
		for _, t := range set.topics(b, all) {
			q, err := parse(t.ID, t.Query)
			if err != nil {
				b.Fatal(err)
			}
			walk(q, func(n *node) {
				if n.kind == kTerm {
					pat := `(?i)\b` + regexp.QuoteMeta(n.text)
					if !n.prefix {
						pat += `\b`
					}
					if !seen[pat] {
						seen[pat] = true
						res = append(res, regexp.MustCompile(pat))
					}
				}
			})
		}
		b.Run(fmt.Sprintf("%s-%dre", set.name, len(res)), func(b *testing.B) {
			ct := startCPU(b, articleBytes(arts))
			for b.Loop() {
				for i := range arts {
					for _, re := range res {
						re.FindAllStringIndex(arts[i].Title, -1)
						re.FindAllStringIndex(arts[i].Content, -1)
					}
				}
			}
			ct.stop(b)
		})
	}
}

// BenchmarkBaselineLower is the floor: an ASCII lower-casing pass over the
// same bytes into a reused buffer.
func BenchmarkBaselineLower(b *testing.B) {
	arts := benchArticles(b)
	buf := make([]byte, 0, 64<<10)
	ct := startCPU(b, articleBytes(arts))
	defer ct.stop(b)
	for b.Loop() {
		for i := range arts {
			for _, s := range []string{arts[i].Title, arts[i].Content} {
				buf = buf[:len(s)]
				for j := 0; j < len(s); j++ {
					c := s[j]
					if 'A' <= c && c <= 'Z' {
						c += 'a' - 'A'
					}
					buf[j] = c
				}
			}
		}
	}
}

// BenchmarkClassifyDuringPreview is BenchmarkClassify/default-topics while
// another goroutine runs the preview's path without pause: a freshly
// compiled query scanning prepared articles (Prepare, MatchPrepared,
// ExplainPrepared). The two share no lock and no scratch space (the
// preview has its own classifier and pool), so cpu-MB/s should equal
// BenchmarkClassify's; wall-clock MB/s also shows the CPU the preview
// takes on a machine with fewer free cores than goroutines.
func BenchmarkClassifyDuringPreview(b *testing.B) {
	arts := benchArticles(b)
	topics := loadTopics(b, defaultTopicsFile)
	c := mustNew(b, topics...)
	prepared := make([]*Prepared, len(arts))
	for i := range arts {
		prepared[i] = Prepare(&arts[i])
	}
	edited := append([]config.Topic(nil), topics...)
	edited[0].Query += " OR precursor*"
	pc := mustNew(b, edited...)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, p := range prepared {
				select {
				case <-stop:
					return
				default:
				}
				if ok, _ := pc.MatchPrepared(p, 0); ok {
					pc.ExplainPrepared(p, topics[0].ID)
				}
			}
		}
	}()
	ct := startCPU(b, articleBytes(arts))
	for b.Loop() {
		for i := range arts {
			c.Classify(&arts[i])
		}
	}
	ct.stop(b)
	close(stop)
	<-done
}
