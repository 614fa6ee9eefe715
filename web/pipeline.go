package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/news"
	"newswatch/notifier"
	"newswatch/pipeline"
)

// Cache lifetimes: a busy page or a script polling the API costs the bus
// at most one scan per lifetime.
const (
	statesTTL  = 2 * time.Second
	countsTTL  = 10 * time.Second
	maxScanned = 5000 // stream messages looked at to fill one page of alerts of a topic
)

// PipelineBackend is the Backend of a running daemon: the config in force
// and the dispatcher's state come from the pipeline; source states, alerts
// and dead letters from the bus.
type PipelineBackend struct {
	b *bus.Bus
	p *pipeline.Pipeline

	mu       sync.Mutex
	states   map[string]pipeline.SourceState
	statesAt time.Time
	counts   map[string]int64
	countsAt time.Time
	countsOf time.Time
	secrets  []string
	secretOf *config.Config
	fbCounts map[string]feedback.Counts
	fbRev    uint64 // the feedback bucket's last revision when fbCounts was read
}

// NewPipelineBackend reads from b and p.
func NewPipelineBackend(b *bus.Bus, p *pipeline.Pipeline) *PipelineBackend {
	return &PipelineBackend{b: b, p: p}
}

// statusSubscriber is the subscriber the status page's buttons record
// labels as: not a valid subscriber id, so it never meets a real one.
const statusSubscriber = "@status"

// FeedbackCounts implements FeedbackBackend.
func (pb *PipelineBackend) FeedbackCounts(ctx context.Context) (map[string]feedback.Counts, error) {
	if pb.b.FeedbackKV() == nil {
		return nil, errors.New("no feedback bucket")
	}
	// The bucket's last revision moves with every label: the counts are
	// read again only when it did, so a page view costs one status call
	// while no label comes in, and shows a new label at once.
	rev, err := pb.b.FeedbackKV().LastRevision(ctx)
	if err != nil {
		return nil, fmt.Errorf("feedback bucket status: %w", err)
	}
	pb.mu.Lock()
	if pb.fbCounts != nil && pb.fbRev == rev {
		c := pb.fbCounts
		pb.mu.Unlock()
		return c, nil
	}
	pb.mu.Unlock()
	rs, _, err := feedback.NewStore(pb.b.FeedbackKV()).List(ctx)
	if err != nil {
		return nil, err
	}
	c := feedback.CountByTopic(rs)
	pb.mu.Lock()
	pb.fbCounts, pb.fbRev = c, rev
	pb.mu.Unlock()
	return c, nil
}

// FeedbackRecords implements FeedbackLister.
func (pb *PipelineBackend) FeedbackRecords(ctx context.Context) ([]feedback.Record, int, error) {
	if pb.b.FeedbackKV() == nil {
		return nil, 0, fmt.Errorf("no feedback bucket %s on this bus", pb.b.Names.FeedbackBucket)
	}
	return feedback.NewStore(pb.b.FeedbackKV()).List(ctx)
}

// FeedbackLinks implements FeedbackBackend.
func (pb *PipelineBackend) FeedbackLinks(alertID string, created time.Time) *news.FeedbackLinks {
	if pb.b.FeedbackKV() == nil {
		return nil
	}
	return pb.p.FeedbackSigner().PageLinks(alertID, statusSubscriber, created)
}

// Secrets implements Backend; the list follows config reloads.
func (pb *PipelineBackend) Secrets() []string {
	cfg := pb.p.Config()
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.secretOf != cfg {
		pb.secrets, pb.secretOf = cfg.Secrets(), cfg
	}
	return pb.secrets
}

// loadStates reads every source state in one pass over the bucket.
func (pb *PipelineBackend) loadStates(ctx context.Context) (map[string]pipeline.SourceState, error) {
	pb.mu.Lock()
	if pb.states != nil && time.Since(pb.statesAt) < statesTTL {
		defer pb.mu.Unlock()
		return pb.states, nil
	}
	pb.mu.Unlock()

	states, err := pb.p.SourceStates(ctx)
	if err != nil {
		return nil, err
	}
	pb.mu.Lock()
	pb.states, pb.statesAt = states, time.Now()
	pb.mu.Unlock()
	return states, nil
}

// Sources implements Backend.
func (pb *PipelineBackend) Sources(ctx context.Context) ([]Source, error) {
	cfg := pb.p.Config()
	states, err := pb.loadStates(ctx)
	if err != nil {
		return nil, err
	}
	return SourceRows(cfg, states), nil
}

// SourceRows are the configured sources with their stored fetch states
// (by source id), in config order: the one read model of source state
// behind the status page, the API and `newswatch sources`.
func SourceRows(cfg *config.Config, states map[string]pipeline.SourceState) []Source {
	out := make([]Source, 0, len(cfg.Sources))
	for _, src := range cfg.Sources {
		st, ok := states[src.ID]
		if !ok {
			st = pipeline.SourceState{Status: "pending"}
		}
		out = append(out, SourceOf(src, st))
	}
	return out
}

// SourceOf is a configured source with its stored fetch state, as the
// page, the API and `newswatch sources` show it.
func SourceOf(src config.Source, st pipeline.SourceState) Source {
	s := Source{
		ID: src.ID, Type: src.Type, URL: RedactURL(src.URL), Status: st.Status,
		Error: st.Error, HTTPStatus: st.HTTPStatus, ConsecutiveFailures: st.ConsecutiveFailures,
		LastFetch: st.LastFetch, LastSuccess: st.LastSuccess, NextFetch: st.NextDue, NextDue: st.NextDue,
		Interval: Duration(src.Interval), ItemsSeen: st.ItemsSeen, NotModified: st.NotModified,
	}
	if s.Status == "" {
		s.Status = "pending"
	}
	if st.URL != "" && st.URL != src.URL {
		// The URL changed since the last fetch: that state is stale.
		s.Status, s.Error, s.HTTPStatus, s.ConsecutiveFailures = "pending", "", 0, 0
	}
	if s.Status == "error" {
		s.Problem = ProblemOf(st.ErrorKind, s.Error, s.HTTPStatus, s.ConsecutiveFailures)
		if !st.LastSuccess.IsZero() {
			// Its URL was right: the site put a page in front of the feed.
			s.Problem = strings.Replace(s.Problem, htmlNotFeed, htmlNowNotFeed, 1)
		}
	}
	return s
}

// Topics implements Backend. A topic's count is the number of alerts its
// subject holds since since, read from a short-lived consumer's pending
// count: nothing is read from the stream.
func (pb *PipelineBackend) Topics(ctx context.Context, since time.Time) ([]Topic, error) {
	cfg := pb.p.Config()
	counts := pb.countAlerts(ctx, cfg.Topics, since)
	out := make([]Topic, 0, len(cfg.Topics))
	learnErr := pb.p.LearnedFailure()
	for _, t := range cfg.Topics {
		tp := Topic{ID: t.ID, Name: t.Name, Query: t.Query, Alerts24h: -1, Subscribers: []string{}}
		if t.Learned.Enabled {
			tp.Learned = &LearnedStage{Reason: "not trained yet"}
			if g := pb.p.LearnedStage(t.ID); g != nil {
				tp.Learned = &LearnedStage{Acting: g.Active(), Reason: g.Report.Reason}
			}
			if learnErr != nil {
				tp.Learned.Error = learnErr.Error()
			}
		}
		if n, ok := counts[t.ID]; ok {
			tp.Alerts24h = n
		}
		for _, s := range cfg.Subscribers {
			if len(s.Topics) == 0 || slices.Contains(s.Topics, t.ID) {
				tp.Subscribers = append(tp.Subscribers, s.ID)
			}
		}
		out = append(out, tp)
	}
	return out, nil
}

func (pb *PipelineBackend) countAlerts(ctx context.Context, topics []config.Topic, since time.Time) map[string]int64 {
	pb.mu.Lock()
	if pb.counts != nil && time.Since(pb.countsAt) < countsTTL && pb.countsOf.Sub(since).Abs() < countsTTL {
		defer pb.mu.Unlock()
		return pb.counts
	}
	pb.mu.Unlock()
	counts := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, t := range topics {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			n, err := pb.b.CountSince(ctx, pb.b.Names.AlertStream, pb.b.Names.AlertSubject(t.ID),
				"status page: alerts of "+t.ID+" in the last 24h", since)
			if err != nil {
				return
			}
			mu.Lock()
			counts[t.ID] = int64(n)
			mu.Unlock()
		})
	}
	wg.Wait()
	pb.mu.Lock()
	pb.counts, pb.countsAt, pb.countsOf = counts, time.Now(), since
	pb.mu.Unlock()
	return counts
}

// Subscribers implements Backend.
func (pb *PipelineBackend) Subscribers(ctx context.Context) ([]Subscriber, error) {
	cfg := pb.p.Config()
	running := map[string]notifier.SubscriberStatus{}
	for _, st := range pb.p.Dispatcher().Status() {
		running[st.ID] = st
	}
	out := make([]Subscriber, 0, len(cfg.Subscribers))
	for _, s := range cfg.Subscribers {
		sub := Subscriber{ID: s.ID, Type: s.Type, Topics: s.Topics, Backlog: -1}
		if sub.Topics == nil {
			sub.Topics = []string{}
		}
		sub.Target = notifier.Target(s)
		if n, err := pb.p.Dispatcher().Backlog(ctx, s.ID); err == nil {
			sub.Backlog = int64(n)
		}
		if st, ok := running[s.ID]; ok {
			sub.Running = !st.Disabled // a disabled subscriber's deliveries do not run
			sub.DisabledReason, sub.DisabledAt, sub.Folded = st.DisabledReason, st.DisabledAt, st.Folded
			sub.Delivered, sub.Failures, sub.DeadLettered = st.Delivered, st.Failures, st.DeadLettered
			sub.LastResult, sub.LastError, sub.LastAt = st.LastResult, st.LastError, st.LastAt
			sub.NextRetry, sub.Disabled = st.NextRetry, st.Disabled
			sub.ConsumerError, sub.ConsumerErrorSince = st.ConsumerError, st.ConsumerErrorSince
		}
		out = append(out, sub)
	}
	return out, nil
}

// walkBack calls f on the messages of stream on subject, newest first,
// below q.Before, until f has accepted q.Limit of them or maxScanned were
// read.
func (pb *PipelineBackend) walkBack(ctx context.Context, stream, subject string, q Query, f func(*bus.StoredMsg) bool) error {
	limit := max(q.Limit, 1)
	got := 0
	return pb.b.WalkBack(ctx, stream, subject, q.Before, maxScanned, func(m *bus.StoredMsg) bool {
		if f(m) {
			got++
		}
		return got < limit
	})
}

// Alerts implements Backend.
func (pb *PipelineBackend) Alerts(ctx context.Context, q Query) ([]Alert, error) {
	out := []Alert{}
	// One topic, or every topic (without the operational events).
	subject := pb.b.Names.AlertSubject(">")
	if q.Topic != "" {
		if strings.ContainsAny(q.Topic, "*>") {
			return out, nil // names no topic; not a pattern
		}
		subject = pb.b.Names.AlertSubject(q.Topic)
	}
	err := pb.walkBack(ctx, pb.b.Names.AlertStream, subject, q, func(m *bus.StoredMsg) bool {
		var a news.Alert
		if json.Unmarshal(m.Data, &a) != nil {
			return false
		}
		out = append(out, Alert{
			Seq: m.Seq, ID: a.ID, Topic: a.Topic, TopicName: a.TopicName, Score: a.Score,
			Title: a.Article.Title, URL: a.Article.URL, Source: a.Article.Source,
			Published: a.Article.Published, Created: a.Created, Matches: a.Matches,
		})
		return true
	})
	return out, err
}

// DeadLetters implements Backend.
func (pb *PipelineBackend) DeadLetters(ctx context.Context, q Query) ([]DeadLetter, error) {
	out := []DeadLetter{}
	subject := ""
	if q.Subscriber != "" {
		if strings.ContainsAny(q.Subscriber, "*>") {
			return out, nil // names no subscriber; not a pattern
		}
		subject = pb.b.Names.DeadSubject(q.Subscriber)
	}
	err := pb.walkBack(ctx, pb.b.Names.DeadStream, subject, q, func(m *bus.StoredMsg) bool {
		var dl notifier.DeadLetter
		if json.Unmarshal(m.Data, &dl) != nil {
			return false
		}
		d := DeadLetter{
			Seq: m.Seq, Subscriber: dl.Subscriber, AlertID: dl.Alert.ID, Topic: dl.Alert.Topic,
			Title: dl.Alert.Article.Title, URL: dl.Alert.Article.URL, Reason: dl.Reason,
			Attempts: len(dl.Attempts), DeadAt: dl.DeadAt,
		}
		if q.Full {
			d.Record = &dl
		}
		out = append(out, d)
		return true
	})
	return out, err
}
