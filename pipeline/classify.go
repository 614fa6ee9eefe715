package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/learn"
	"newswatch/metrics"
	"newswatch/news"
)

// classifyStage tags each new article with its topics and publishes one
// alert per matching topic.
type classifyStage struct {
	b   *bus.Bus
	log *slog.Logger
	m   *metrics.Metrics

	cls    atomic.Pointer[classifier.Classifier]
	names  atomic.Pointer[map[string]string] // topic id → name
	alerts atomic.Int64                      // new alerts published by this process

	learned *learn.Stages // topics' learned second stages (learned.go)
	lm      *learn.Metrics
}

func (s *classifyStage) setTopics(topics []config.Topic, c *classifier.Classifier) {
	names := make(map[string]string, len(topics))
	for _, t := range topics {
		names[t.ID] = t.Name
	}
	s.names.Store(&names)
	s.cls.Store(c)
}

// publishTimeout bounds the wait for the stream to accept an alert.
const publishTimeout = 10 * time.Second

// classify publishes the alerts of one article and waits for the stream to
// accept them; only then may the article be acknowledged.
func (s *classifyStage) classify(ctx context.Context, a *news.Article) error {
	matches := s.veto(a, s.cls.Load().Classify(a))
	names := *s.names.Load()
	// Every alert of the article names all its topics: a subscriber of
	// several is sent the article once (see notifier.Fold).
	topics := make([]news.AlertTopic, len(matches))
	for i, m := range matches {
		topics[i] = news.AlertTopic{ID: m.Topic, Name: names[m.Topic], Score: m.Score, Matches: m.Matches}
		if topics[i].Matches == nil {
			topics[i].Matches = []news.Match{}
		}
	}
	created := time.Now().UTC()
	for _, m := range matches {
		alert := news.Alert{
			V:         news.Version,
			ID:        news.AlertID(m.Topic, a.ID),
			Topic:     m.Topic,
			TopicName: names[m.Topic],
			Score:     m.Score,
			Matches:   m.Matches,
			Topics:    topics,
			Article:   *a,
			Created:   created,
		}
		data, err := json.Marshal(alert)
		if err != nil {
			return fmt.Errorf("encode alert %s: %w", alert.ID, err)
		}
		// A store that cannot write does not answer: the deadline ends
		// the wait, and the failure is reported where operators look.
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		dup, err := s.b.PublishAlert(pctx, m.Topic, alert.ID, data)
		cancel()
		if err != nil {
			err = fmt.Errorf("publish alert %s: %w", alert.ID, err)
			s.b.Health.Report(classifyWriteFault, bus.KindStoreError, err.Error())
			return err
		}
		s.b.Health.Clear(classifyWriteFault)
		if !dup {
			s.alerts.Add(1)
			s.m.Alerted(m.Topic)
			s.log.Info("new alert", "alert", alert.ID, "topic", m.Topic, "score", m.Score,
				"title", a.Title, "source", a.Source)
		}
	}
	return nil
}

// classifierConsumer is the durable consumer the classifiers of every
// replica share.
const classifierConsumer = "classifier"

func (s *classifyStage) consumer(ctx context.Context) (*bus.Durable, error) {
	return s.b.OpenDurable(ctx, s.b.Names.ArticleStream, bus.ConsumerSpec{
		Durable:       classifierConsumer,
		Description:   "classifiers of every replica",
		AckWait:       30 * time.Second, // classifying takes milliseconds
		MaxAckPending: 1000,
	}, s.log)
}

func (s *classifyStage) consume(ctx context.Context, workers int) error {
	return s.consumeUntil(ctx, context.Background(), workers)
}

// consumeUntil is consume whose waiting pull also ends when abort is done.
func (s *classifyStage) consumeUntil(ctx, abort context.Context, workers int) error {
	cons, err := s.consumer(ctx)
	if err != nil {
		return err
	}
	lp := &bus.Loop{Log: s.log, Workers: workers, Abort: abort, Panicked: func() { s.m.Panicked("classify") }}
	return lp.Run(ctx, cons, s.handleArticle)
}

// handleArticle classifies one article of the stream; it is acked once
// its alerts are stored.
func (s *classifyStage) handleArticle(ctx context.Context, m bus.Msg) bus.Result {
	var a news.Article
	if err := json.Unmarshal(m.Data(), &a); err != nil {
		s.log.Error("undecodable article", "subject", m.Subject(), "err", err)
		return bus.Term()
	}
	if err := s.classify(ctx, &a); err != nil {
		s.log.Error("classify", "article", a.ID, "err", err)
		return bus.RetryAfter(2 * time.Second)
	}
	return bus.Ack().Then(func(_ context.Context, err error) {
		if err != nil {
			s.log.Warn("ack article", "article", a.ID, "err", err)
		}
	})
}
