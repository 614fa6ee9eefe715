package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Topic is a named query.
type Topic struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Query string `yaml:"query"`
	// MinScore is the score an article must reach, on top of satisfying
	// Query, to match; zero accepts any article that satisfies Query.
	// See docs/queries.md for how the score is computed.
	MinScore float64 `yaml:"min_score"`
	// Weights gives each field's weight in the score (title, summary,
	// content, category, url, source); absent fields keep their defaults.
	Weights map[string]float64 `yaml:"weights"`
	// StoryWindow groups alerts whose titles tell the same story within
	// this window: each subscriber gets the first as an alert and later
	// ones as follow-ups ("also reported by"). Unset: 24h; 0s: off.
	StoryWindow *time.Duration `yaml:"story_window"`
	// Spikes turns on coverage-spike alerts for the topic (docs/trends.md).
	Spikes Spikes `yaml:"spikes"`
	// Learned is the topic's learned second stage, off by default
	// (docs/feedback.md).
	Learned Learned `yaml:"learned"`
}

// Learned configures a topic's learned second stage: a model trained on
// the topic's feedback labels that may veto a match of the query whose
// probability of being relevant is below Threshold. It never adds a
// match, and acts only when cross-validation on the labels says it helps.
type Learned struct {
	Enabled bool `yaml:"enabled"`
	// Threshold is the probability of "relevant" below which a match is
	// vetoed; default 0.2.
	Threshold float64 `yaml:"threshold"`
	// MinLabels is how many labels of each kind (relevant, not relevant)
	// are needed before the stage may act; default 20.
	MinLabels int `yaml:"min_labels"`
	// MaxRecallLoss is how much cross-validated recall the stage may
	// lose against the query alone; default 0.05.
	MaxRecallLoss float64 `yaml:"max_recall_loss"`
}

func (l *Learned) applyDefaults() {
	orDefault(&l.Threshold, 0.2)
	orDefault(&l.MinLabels, 20)
	orDefault(&l.MaxRecallLoss, 0.05)
}

// Trends configures the per-topic volume series (docs/trends.md).
type Trends struct {
	// Retention is how long hourly buckets are kept; default 720h (30 days).
	Retention time.Duration `yaml:"retention"`
}

// Spikes configures a topic's spike alerts: the last Window's articles
// and distinct sources against the same hours of previous days.
type Spikes struct {
	Enabled bool `yaml:"enabled"`
	// Window is the span counted, a whole number of hours; default 6h.
	Window time.Duration `yaml:"window"`
	// MinArticles and MinSources are floors below which nothing is a
	// spike, whatever the baseline; defaults 5 and 3.
	MinArticles int `yaml:"min_articles"`
	MinSources  int `yaml:"min_sources"`
	// Threshold is how many robust deviations (1.4826 × MAD) above the
	// seasonal median a window must be; default 5.
	Threshold float64 `yaml:"threshold"`
}

func (c *Config) validateTrends() Problems {
	p := &problems{c: c}
	if c.Trends.Retention < 24*time.Hour {
		p.add(fmt.Sprintf("retention %s must be at least 24h", c.Trends.Retention), "trends", "retention")
	}
	return p.ps
}

func (c *Config) validateTopics() Problems {
	p := &problems{c: c}
	seen := map[string]bool{}
	for i, t := range c.Topics {
		p.id(t.ID, seen, "topics", "topic", i)
		if strings.TrimSpace(t.Query) == "" {
			p.add("query is empty", "topics", i, "query")
		}
		if sp := t.Spikes; sp.Window < time.Hour || sp.Window > 7*24*time.Hour || sp.Window%time.Hour != 0 {
			p.add(fmt.Sprintf("window %s must be a whole number of hours between 1h and 168h", sp.Window), "topics", i, "spikes", "window")
		}
		if t.Spikes.MinArticles < 0 || t.Spikes.MinSources < 0 || t.Spikes.Threshold < 0 {
			p.add("min_articles, min_sources and threshold must not be negative", "topics", i, "spikes")
		}
		// One problem per key, with its value and what to write instead.
		l := t.Learned
		if math.IsNaN(l.Threshold) || l.Threshold <= 0 || l.Threshold >= 1 {
			p.add(fmt.Sprintf("%g must be more than 0 and less than 1 (a probability; leave it out for 0.2)", l.Threshold), "topics", i, "learned", "threshold")
		}
		if l.MinLabels < 1 {
			p.add(fmt.Sprintf("%d must be at least 1 (labels of each kind; leave it out for 20)", l.MinLabels), "topics", i, "learned", "min_labels")
		}
		if math.IsNaN(l.MaxRecallLoss) || l.MaxRecallLoss < 0 || l.MaxRecallLoss > 1 {
			p.add(fmt.Sprintf("%g must be between 0 and 1 (a share of recall; leave it out for 0.05)", l.MaxRecallLoss), "topics", i, "learned", "max_recall_loss")
		}
	}
	return p.ps
}
