package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/metrics"
	"newswatch/news"
)

// learnedArticle is a fentanyl article about trafficking (relevant) or
// about a pharmaceutical lawsuit (not relevant); every one matches the
// query "fentanyl".
func learnedArticle(i int, relevant bool) news.Article {
	words := []string{"verdict", "pharmaceutical", "settlement", "jury", "lawsuit", "patch"}
	if relevant {
		words = []string{"seizure", "border", "precursor", "trafficking", "cartel", "smuggling"}
	}
	var b strings.Builder
	for j := range 30 {
		b.WriteString(words[(i+j)%len(words)] + " officials said ")
	}
	return news.Article{V: news.Version, ID: fmt.Sprintf("art-%v-%d", relevant, i),
		Title: "Fentanyl " + words[i%len(words)], Content: b.String(), Source: "wire"}
}

// alertIDs lists the ids of every alert in the stream.
func alertIDs(t *testing.T, ctx context.Context, p *Pipeline) map[string]bool {
	t.Helper()
	st, err := p.b.JS.Stream(ctx, p.b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		ids[m.Header.Get("Nats-Msg-Id")] = true
	}
	return ids
}

// classified waits until the classifier has taken every article. The
// server's pending count alone can miss an article just published
// (bus.ConsumerBacklog says why), and the test would then read the
// alerts before that article's.
func classified(t *testing.T, ctx context.Context, p *Pipeline) {
	t.Helper()
	waitFor(t, 15*time.Second, func() bool {
		n, found, err := p.b.ConsumerBacklog(ctx, p.b.Names.ArticleStream, classifierConsumer)
		return err == nil && found && n == 0
	})
}

// TestLearnedStageVetoesAfterFeedback: the same kind of article alerts
// before the topic has feedback, and is vetoed once enough labels are
// stored and the stage's cross-validation lets it act; a relevant one
// still alerts, and the veto shows in the metric.
func TestLearnedStageVetoesAfterFeedback(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Topics[0].Learned = config.Learned{Enabled: true, MinLabels: 10}
	})
	b := openBus(t, cfg)
	m := metrics.New()
	p, err := New(cfg, b, discard(), m)
	if err != nil {
		t.Fatal(err)
	}
	p.learner.Interval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, Roles{Classifier: true}) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()
	src := config.Source{ID: "wire"}
	publish := func(a news.Article) {
		t.Helper()
		if _, err := p.Publish(ctx, src, []news.Article{a}); err != nil {
			t.Fatal(err)
		}
	}

	before := learnedArticle(100, false)
	publish(before)
	classified(t, ctx, p)
	if !alertIDs(t, ctx, p)[news.AlertID("fentanyl", before.ID)] {
		t.Fatal("without labels the stage vetoed a match")
	}

	at := time.Now().Add(-time.Hour)
	putLabels(t, ctx, b, 30, func() time.Time { at = at.Add(time.Second); return at })
	waitFor(t, 20*time.Second, func() bool {
		return metricValue(t, m, "newswatch_learned_acting", map[string]string{"topic": "fentanyl"}) == 1
	})

	bad, good := learnedArticle(200, false), learnedArticle(201, true)
	publish(bad)
	publish(good)
	classified(t, ctx, p)
	ids := alertIDs(t, ctx, p)
	if ids[news.AlertID("fentanyl", bad.ID)] {
		t.Error("a not relevant match was alerted although the stage acts")
	}
	if !ids[news.AlertID("fentanyl", good.ID)] {
		t.Error("a relevant match was vetoed")
	}
	if v := metricValue(t, m, "newswatch_learned_vetoes_total", map[string]string{"topic": "fentanyl"}); v != 1 {
		t.Errorf("newswatch_learned_vetoes_total = %v, want 1", v)
	}
}

// TestLearnedStageOffByDefault: with the stage not enabled, labels change
// nothing.
func TestLearnedStageOffByDefault(t *testing.T) {
	cfg := testConfig(t, nil)
	b := openBus(t, cfg)
	p, err := New(cfg, b, discard(), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	putLabels(t, ctx, b, 30, time.Now)
	if err := p.learner.Train(ctx); err != nil {
		t.Fatal(err)
	}
	bad := learnedArticle(200, false)
	if got := p.cls.veto(&bad, p.Classifier().Classify(&bad)); len(got) != 1 {
		t.Errorf("with the stage off, matches = %+v", got)
	}
}

// putLabels labels n relevant and n not relevant fentanyl articles (see
// learnedArticle), each at the time at gives.
func putLabels(t *testing.T, ctx context.Context, b *bus.Bus, n int, at func() time.Time) {
	t.Helper()
	store := feedback.NewStore(b.FeedbackKV())
	for i := range n {
		for _, rel := range []bool{true, false} {
			a := learnedArticle(i, rel)
			label := feedback.NotRelevant
			if rel {
				label = feedback.Relevant
			}
			if _, err := store.Put(ctx, feedback.Record{AlertID: news.AlertID("fentanyl", a.ID), Topic: "fentanyl",
				ArticleID: a.ID, Subscriber: "desk", Label: label, At: at(), Article: feedback.ArticleOf(&a)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
