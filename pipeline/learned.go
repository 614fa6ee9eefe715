package pipeline

import (
	"context"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/learn"
	"newswatch/news"
)

// setupLearned prepares the topics' learned second stages: trained on the
// feedback bucket when Run or Once starts, then kept up to date.
func (p *Pipeline) setupLearned(cfg *config.Config, c *classifier.Classifier) error {
	p.learner = learn.NewTrainer(p.b.FeedbackKV(), p.log)
	if p.m != nil {
		lm, err := learn.NewMetrics(p.m.Registry)
		if err != nil {
			return err
		}
		p.learner.OnReport = lm.Trained
		p.learner.OnFailure = lm.TrainingDone
		p.cls.lm = lm
	}
	p.cls.learned = p.learner.Stages
	p.learner.SetTopics(cfg.Topics, c)
	return nil
}

// trainLearned trains the learned stages before the classifier starts,
// so that a stage allowed to act acts from the first article. A failure
// leaves the stages off (the query alone decides) and says so.
func (p *Pipeline) trainLearned(ctx context.Context) {
	if err := p.learner.Train(ctx); err != nil {
		p.log.Warn("learned stage off until a retrain succeeds", "err", err)
	}
}

// veto drops the matches the topics' learned stages veto: it can only
// take matches away, never add one.
func (s *classifyStage) veto(a *news.Article, matches []news.TopicMatch) []news.TopicMatch {
	if s.learned == nil {
		return matches
	}
	kept, vetoes := s.learned.Filter(a, matches)
	for _, v := range vetoes {
		s.lm.Vetoed(v.Topic)
		s.log.Info("match vetoed by learned stage", "topic", v.Topic, "article", a.ID, "score", v.Score,
			"title", a.Title, "source", a.Source)
	}
	return kept
}

// LearnedStage says how topic's learned stage stands: whether it is
// enabled, whether it acts, and why (nil: no stage enabled, or not
// trained yet).
func (p *Pipeline) LearnedStage(topic string) *learn.Gate {
	return p.learner.Stages.Gate(topic)
}

// LearnedFailure is why the last training of the learned stages failed;
// nil when it succeeded or none ran.
func (p *Pipeline) LearnedFailure() error {
	return p.learner.Failure()
}
