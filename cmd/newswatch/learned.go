package main

import (
	"context"
	"fmt"
	"io"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/learn"
	"newswatch/news"
)

// learnedExplainer returns a function that adds the learned stages'
// verdicts to explanations, for the topics (or the one topic) whose
// stage is enabled; nil when none is. It trains the stages from the
// feedback bucket as the daemon does (training is deterministic).
func learnedExplainer(ctx context.Context, env *cliEnv, cfg *config.Config, c *classifier.Classifier, only string) func(*news.Article, []classifier.Explanation) {
	var topics []config.Topic
	for _, t := range cfg.Topics {
		if t.Learned.Enabled && (only == "" || t.ID == only) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return nil
	}
	note := func(why string) func(*news.Article, []classifier.Explanation) {
		return func(_ *news.Article, ex []classifier.Explanation) {
			for i := range ex {
				if ex[i].Matched && hasTopic(topics, ex[i].Topic) {
					ex[i].Learned = &classifier.Learned{Threshold: topicLearned(topics, ex[i].Topic).Threshold, Reason: why}
				}
			}
		}
	}
	b, ok := openBus(ctx, env, cfg)
	if !ok {
		return note("its labels could not be read (the bus is not reachable)")
	}
	defer b.Close()
	if b.FeedbackKV() == nil {
		return note("no feedback bucket on this bus")
	}
	recs, err := loadFeedback(ctx, env, b)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch explain: %v\n", err)
		return note("its labels could not be read")
	}
	gates := learn.BuildAll(topics, c, recs)
	return func(a *news.Article, ex []classifier.Explanation) {
		for i := range ex {
			if g := gates[ex[i].Topic]; g != nil && ex[i].Matched {
				ex[i].Learned = g.Judge(a)
			}
		}
	}
}

func hasTopic(ts []config.Topic, id string) bool {
	for _, t := range ts {
		if t.ID == id {
			return true
		}
	}
	return false
}

func topicLearned(ts []config.Topic, id string) config.Learned {
	for _, t := range ts {
		if t.ID == id {
			return t.Learned
		}
	}
	return config.Learned{}
}

// writeLearnedReport prints a topic's learned stage cross-validation.
func writeLearnedReport(w io.Writer, t config.Topic, g *learn.Gate) {
	r := g.Report
	state := "off (topics[].learned.enabled is false)"
	switch {
	case t.Learned.Enabled && r.Allowed:
		state = "ACTING: vetoes matches scored below the threshold"
	case t.Learned.Enabled:
		state = "enabled, NOT acting"
	}
	fmt.Fprintf(w, "\nlearned stage of topic %s: %s\n", t.ID, state)
	fmt.Fprintf(w, "  labels: %d (%d relevant, %d not relevant, need %d of each); threshold %.2f; max recall loss %.2f\n",
		r.Labels, r.Relevant, r.NotRelevant, t.Learned.MinLabels, r.Threshold, t.Learned.MaxRecallLoss)
	if r.Query.TP+r.Query.FP+r.Query.FN > 0 {
		fmt.Fprintf(w, "  %d-fold cross-validation against the labels:\n", r.Folds)
		row := func(name string, p learn.PR) {
			fmt.Fprintf(w, "    %-20s precision %.2f  recall %.2f  (%d relevant kept, %d not relevant kept, %d relevant lost)\n",
				name, p.Precision(), p.Recall(), p.TP, p.FP, p.FN)
		}
		row("query alone", r.Query)
		row("query + learned", r.Staged)
	}
	verdict := "may act"
	if !r.Allowed {
		verdict = "may not act"
	}
	fmt.Fprintf(w, "  %s: %s\n", verdict, r.Reason)
}

// learnedModel is `newswatch feedback model`: the cross-validation of
// the learned stage of one topic, or of every topic with labels.
func learnedModel(w io.Writer, cfg *config.Config, recs []feedback.Record, only string) error {
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		return err
	}
	counts := feedback.CountByTopic(recs)
	n := 0
	for _, t := range cfg.Topics {
		if only != "" && t.ID != only {
			continue
		}
		if only == "" && !t.Learned.Enabled && counts[t.ID] == (feedback.Counts{}) {
			continue
		}
		n++
		writeLearnedReport(w, t, learn.Build(t.ID, t.Learned, learn.Examples(c, t.ID, recs)))
	}
	if n == 0 {
		if only != "" {
			return fmt.Errorf("unknown topic %q", only)
		}
		fmt.Fprintln(w, "no topic has labels or a learned stage yet")
	}
	return nil
}

// learnedUsage is appended to feedback's help.
const learnedUsage = `  model   the learned second stage of each topic (or -topic ID): its
          cross-validated precision and recall against the labels, for
          the query alone and with the stage's vetoes, and whether it
          may act (docs/feedback.md)
`
