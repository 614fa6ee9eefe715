package learn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/news"
)

// Examples are topic's labelled articles, oldest first, each marked with
// whether c (which holds topic) matches it now. Labels whose article text
// is no longer known are left out.
func Examples(c *classifier.Classifier, topic string, recs []feedback.Record) []Example {
	var out []Example
	for _, r := range feedback.Labels(recs, topic) {
		if r.Article == nil {
			continue
		}
		a := r.Article.News()
		matched := false
		for _, m := range c.Classify(&a) {
			if m.Topic == topic {
				matched = true
				break
			}
		}
		out = append(out, Example{ID: r.ArticleID, Features: Features(&a), Relevant: r.Label == feedback.Relevant, Matched: matched})
	}
	return out
}

// BuildAll builds the gate of every topic whose learned stage is enabled.
func BuildAll(topics []config.Topic, c *classifier.Classifier, recs []feedback.Record) map[string]*Gate {
	gates := map[string]*Gate{}
	for _, t := range topics {
		if t.Learned.Enabled {
			gates[t.ID] = Build(t.ID, t.Learned, Examples(c, t.ID, recs))
		}
	}
	return gates
}

// Stages holds the gates in force, replaced whole on each retrain; safe
// for concurrent use. The zero value has none.
type Stages struct {
	gates atomic.Pointer[map[string]*Gate]
}

// Set puts gates in force.
func (s *Stages) Set(gates map[string]*Gate) { s.gates.Store(&gates) }

// Gate is topic's gate, nil when its stage is off.
func (s *Stages) Gate(topic string) *Gate {
	if g := s.gates.Load(); g != nil {
		return (*g)[topic]
	}
	return nil
}

// Veto is one match the stage took away.
type Veto struct {
	Topic string
	Score float64
}

// Filter drops from matches those the active gates veto, in place, and
// returns what is left and what was vetoed. It only ever removes: what
// it returns is a subset of matches.
func (s *Stages) Filter(a *news.Article, matches []news.TopicMatch) ([]news.TopicMatch, []Veto) {
	g := s.gates.Load()
	if g == nil || len(*g) == 0 || len(matches) == 0 {
		return matches, nil
	}
	var vetoes []Veto
	out := matches[:0]
	for _, m := range matches {
		if vetoed, score := (*g)[m.Topic].Vetoes(a); vetoed {
			vetoes = append(vetoes, Veto{Topic: m.Topic, Score: score})
			continue
		}
		out = append(out, m)
	}
	return out, vetoes
}

// DefaultInterval is the least time between two retrains.
const DefaultInterval = 5 * time.Minute

// Trainer keeps Stages trained on the feedback bucket: at start, when the
// topics change, and when labels change, at most once per Interval.
type Trainer struct {
	Stages   *Stages
	Interval time.Duration
	// OnReport, if set, is called with each gate's report after a
	// retrain (for metrics).
	OnReport func(Report)
	// OnFailure, if set, is called after each training with its error
	// (nil: it succeeded).
	OnFailure func(error)

	kv  bus.KV // nil: no feedback bucket, no stage acts
	log *slog.Logger

	mu      sync.Mutex
	topics  []config.Topic
	cls     *classifier.Classifier
	lastSeq uint64
	stale   bool  // the topics changed since the last training
	failed  error // the last training's failure, nil once one succeeds
}

// NewTrainer trains from the feedback bucket kv (nil: none).
func NewTrainer(kv bus.KV, log *slog.Logger) *Trainer {
	return &Trainer{Stages: &Stages{}, Interval: DefaultInterval, kv: kv, log: log}
}

// SetTopics puts topics and their classifier in force; Run retrains at
// its next tick.
func (t *Trainer) SetTopics(topics []config.Topic, c *classifier.Classifier) {
	t.mu.Lock()
	t.topics, t.cls, t.stale = topics, c, true
	t.mu.Unlock()
	// Gates of topics that are gone or switched off stop at once; the
	// others keep acting until the retrain.
	if g := t.Stages.gates.Load(); g != nil {
		keep := map[string]*Gate{}
		for _, tp := range topics {
			if old := (*g)[tp.ID]; old != nil && tp.Learned.Enabled && tp.Learned == old.Config {
				keep[tp.ID] = old
			}
		}
		t.Stages.Set(keep)
	}
}

func (t *Trainer) enabled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tp := range t.topics {
		if tp.Learned.Enabled {
			return true
		}
	}
	return false
}

// lastSequence is the feedback bucket's last stream sequence: it moves on
// every label stored.
func (t *Trainer) lastSequence(ctx context.Context) (uint64, error) {
	seq, err := t.kv.LastRevision(ctx)
	if err != nil {
		return 0, fmt.Errorf("learned stage: feedback bucket status: %w", err)
	}
	return seq, nil
}

// Failure is why the last training failed, nil when it succeeded: the
// gates in force (if any) are older than the labels.
func (t *Trainer) Failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// Train retrains every enabled topic's stage from the labels now stored.
// On error the gates in force stay, and Failure says why until a
// training succeeds.
func (t *Trainer) Train(ctx context.Context) error {
	err := t.train(ctx)
	if err != nil {
		// Retrain at the next tick even if no label changes: the topics
		// in force may have no gate yet.
		t.mu.Lock()
		t.stale = true
		t.mu.Unlock()
	}
	if ctx.Err() == nil || err == nil {
		t.setFailure(err)
	}
	return err
}

func (t *Trainer) setFailure(err error) {
	t.mu.Lock()
	t.failed = err
	t.mu.Unlock()
	if t.OnFailure != nil {
		t.OnFailure(err)
	}
}

func (t *Trainer) train(ctx context.Context) error {
	t.mu.Lock()
	topics, c := t.topics, t.cls
	t.stale = false
	t.mu.Unlock()
	if !t.enabled() {
		t.Stages.Set(nil)
		return nil
	}
	if t.kv == nil {
		t.Stages.Set(nil)
		return fmt.Errorf("learned stage: no feedback bucket on this bus")
	}
	seq, err := t.lastSequence(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	recs, bad, err := feedback.NewStore(t.kv).List(ctx)
	if err != nil {
		return fmt.Errorf("learned stage: %w", err)
	}
	if bad > 0 {
		t.log.Warn("learned stage: feedback records that do not decode are left out", "count", bad)
	}
	gates := BuildAll(topics, c, recs)
	t.Stages.Set(gates)
	t.mu.Lock()
	t.lastSeq = seq
	t.mu.Unlock()
	for _, tp := range topics {
		g := gates[tp.ID]
		if g == nil {
			continue
		}
		r := g.Report
		t.log.Info("learned stage trained", "topic", tp.ID, "acting", r.Allowed, "labels", r.Labels,
			"relevant", r.Relevant, "not_relevant", r.NotRelevant, "reason", r.Reason)
		if t.OnReport != nil {
			t.OnReport(r)
		}
	}
	return nil
}

// Run retrains when the topics or the labels change, at most once per
// Interval, until ctx ends. The first training is Train's, called before.
func (t *Trainer) Run(ctx context.Context) {
	tick := time.NewTicker(max(t.Interval, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !t.enabled() || t.kv == nil {
			continue
		}
		t.mu.Lock()
		stale, last := t.stale, t.lastSeq
		t.mu.Unlock()
		if !stale {
			seq, err := t.lastSequence(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.setFailure(err)
					t.log.Warn("learned stage: cannot tell whether feedback changed; the stages in force stay", "err", err)
				}
				continue
			}
			if seq == last {
				if t.Failure() != nil {
					t.setFailure(nil) // the status check failed; the gates match the labels
				}
				continue
			}
		}
		if err := t.Train(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("learned stage: retrain failed; the stages in force stay", "err", err)
		}
	}
}
