package learn

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/news"
)

// TestTrainerRetrainsOnlyWhenLabelsChange: on the embedded bus, the
// trainer trains at start, does not retrain while nothing changes, and
// retrains once labels are stored; a topic switched off by a reload stops
// at once.
func TestTrainerRetrainsOnlyWhenLabelsChange(t *testing.T) {
	cfg := &config.Config{DataDir: t.TempDir(), Topics: []config.Topic{{ID: "fentanyl", Query: "fentanyl", Learned: learnedCfg()}}}
	cfg.ApplyDefaults()
	cfg.Topics[0].Learned.MinLabels = 10
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrainer(b.FeedbackKV(), log)
	tr.Interval = 10 * time.Millisecond
	var mu sync.Mutex
	var reports []Report
	tr.OnReport = func(r Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }
	trained := func() []Report { mu.Lock(); defer mu.Unlock(); return append([]Report(nil), reports...) }
	tr.SetTopics(cfg.Topics, c)
	if err := tr.Train(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { tr.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	time.Sleep(100 * time.Millisecond) // ten ticks with nothing new
	if rs := trained(); len(rs) != 1 || rs[0].Allowed {
		t.Fatalf("reports with no labels and no change: %+v", rs)
	}

	_, arts := toySet(40, 13)
	store := feedback.NewStore(b.FeedbackKV())
	for i, a := range arts {
		label := feedback.NotRelevant
		if i%2 == 0 {
			label = feedback.Relevant
		}
		if _, err := store.Put(ctx, feedback.Record{AlertID: news.AlertID("fentanyl", a.ID), Topic: "fentanyl", ArticleID: a.ID,
			Subscriber: "desk", Label: label, At: time.Unix(int64(1e9+i), 0), Article: feedback.ArticleOf(&a)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for rs := trained(); rs[len(rs)-1].Labels != 40; rs = trained() {
		if time.Now().After(deadline) {
			t.Fatalf("not retrained on all labels: %+v", rs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := tr.Stages.Gate("fentanyl"); !g.Active() {
		t.Fatalf("the gate does not act: %s", g.Report.Reason)
	}
	n := len(trained())
	time.Sleep(100 * time.Millisecond)
	if len(trained()) != n {
		t.Errorf("retrained %d times with no new label", len(trained())-n)
	}

	off := []config.Topic{cfg.Topics[0]}
	off[0].Learned.Enabled = false
	tr.SetTopics(off, c)
	if g := tr.Stages.Gate("fentanyl"); g != nil {
		t.Errorf("a stage switched off still has a gate: %s", fmt.Sprint(g.Report))
	}
}

// TestTrainerKeepsItsFailure: a training that cannot read the feedback
// bucket is kept for the status page until a training succeeds.
func TestTrainerKeepsItsFailure(t *testing.T) {
	cfg := &config.Config{DataDir: t.TempDir(), Topics: []config.Topic{{ID: "fentanyl", Query: "fentanyl", Learned: learnedCfg()}}}
	cfg.ApplyDefaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrainer(b.FeedbackKV(), log)
	tr.SetTopics(cfg.Topics, c)
	if err := tr.Train(ctx); err != nil || tr.Failure() != nil {
		t.Fatalf("training on a readable bucket: %v, failure %v", err, tr.Failure())
	}
	b.Close()
	tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
	defer tcancel()
	if err := tr.Train(tctx); err == nil {
		t.Fatal("training on a closed bus succeeded")
	}
	if tr.Failure() == nil {
		t.Error("a failed training is not kept")
	}
	tr.SetTopics(nil, c) // no stage enabled: nothing can fail
	if err := tr.Train(ctx); err != nil || tr.Failure() != nil {
		t.Errorf("with no stage enabled: %v, failure %v", err, tr.Failure())
	}
}
