package learn

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/internal/fixture"
	"newswatch/news"
)

// labeledArticles are the shared labelled articles, with their fentanyl
// labels.
func labeledArticles(tb testing.TB) ([]news.Article, []bool) {
	tb.Helper()
	f, err := os.Open(fixture.Path(tb, "labeled", "articles.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var arts []news.Article
	var fent []bool
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var l struct {
			ID, Title, Text string
			Fentanyl        bool
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.ID == "" {
			continue
		}
		arts = append(arts, news.Article{ID: l.ID, Title: l.Title, Content: l.Text})
		fent = append(fent, l.Fentanyl)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return arts, fent
}

// defaultTopics are the topics of the repository's config.yaml.
func defaultTopics(tb testing.TB) []config.Topic {
	tb.Helper()
	cfg, err := config.Load("../config.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Topics
}

// stagesFor returns the classify stage's learned stages for topics: none
// when every stage is off, else the fentanyl one trained on the labelled
// articles (whatever its cross-validation says, so that it runs).
func stagesFor(tb testing.TB, c *classifier.Classifier, arts []news.Article, fent []bool, on bool) *Stages {
	s := &Stages{}
	if !on {
		s.Set(map[string]*Gate{})
		return s
	}
	var es []Example
	for i := range arts {
		es = append(es, Example{ID: arts[i].ID, Features: Features(&arts[i]), Relevant: fent[i], Matched: true})
	}
	g := &Gate{Config: config.Learned{Enabled: true, Threshold: 0.2}, Model: Train(es), Report: Report{Allowed: true}}
	s.Set(map[string]*Gate{"fentanyl": g})
	return s
}

// BenchmarkClassifyLearned is the classify stage's work per pass over the
// labelled articles: the classifier alone, with every learned stage off
// (the default: it must cost nothing), and with the fentanyl topic's
// stage acting (its cost falls only on the articles that topic matched).
//
//	go test ./learn/ -run '^$' -bench ClassifyLearned -benchmem -cpu 1
func BenchmarkClassifyLearned(b *testing.B) {
	arts, fent := labeledArticles(b)
	c, err := classifier.New(defaultTopics(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"classify", "stage-off", "stage-on"} {
		s := stagesFor(b, c, arts, fent, mode == "stage-on")
		b.Run(mode, func(b *testing.B) {
			// Thread CPU time, not wall time: the machine is shared.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := threadCPU()
			alerts := 0
			for b.Loop() {
				for i := range arts {
					ms := c.Classify(&arts[i])
					if mode != "classify" {
						ms, _ = s.Filter(&arts[i], ms)
					}
					alerts += len(ms)
				}
			}
			b.ReportMetric(float64(threadCPU()-start)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(alerts)/float64(b.N), "alerts/op")
		})
	}
}

// threadCPU is the CPU time of the calling thread (Linux).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStageOffCostsNothing: with every stage off, the classify stage's
// filter allocates nothing and hands the matches back as they are.
func TestStageOffCostsNothing(t *testing.T) {
	arts, fent := labeledArticles(t)
	c, err := classifier.New(defaultTopics(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Stages{{}, stagesFor(t, c, arts, fent, false)} {
		ms := c.Classify(&arts[0])
		n := testing.AllocsPerRun(100, func() {
			if out, v := s.Filter(&arts[0], ms); len(out) != len(ms) || v != nil {
				t.Fatal("a stage that is off changed the matches")
			}
		})
		if n != 0 {
			t.Errorf("Filter with every stage off allocates %v times per article, want 0", n)
		}
	}
}
