package trends

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

// BacktestOptions tune a spike backtest.
type BacktestOptions struct {
	// Since is where the series is taken as known; zero: when the
	// archive's first article was stored (earlier hours hold only the
	// back catalogue of the first fetches, not the real volume).
	Since time.Time
	// Now ends the replay; zero: now.
	Now time.Time
}

// BacktestSpikes replays the article archive through the topic's query
// (c must hold the topic), builds its series in memory (nothing is
// written), and returns the spike alerts the topic's spikes settings
// would have sent, first reports and follow-ups, oldest first.
func BacktestSpikes(ctx context.Context, b *bus.Bus, t config.Topic, c *classifier.Classifier, o BacktestOptions) ([]news.Alert, error) {
	mem := NewMemory()
	ids := map[string]bool{}
	since := o.Since
	var obs []Obs
	err := WalkArticles(ctx, b, time.Time{}, func(a *news.Article, stored time.Time) error {
		if since.IsZero() {
			since = stored
		}
		for _, m := range c.Classify(a) {
			if m.Topic == t.ID {
				obs = append(obs, ObsOf(t.ID, a, m.Score, stored))
			}
		}
		if len(obs) >= 1000 {
			mem.Add(obs, ids)
			obs = obs[:0]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	mem.Add(obs, ids)
	if since.IsZero() {
		return nil, nil // an empty archive
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	from, to := HourOf(since), HourOf(now)
	if to < from {
		return nil, nil
	}
	p := ParamsOf(t.Spikes)
	hours := mem.Hours(t.ID, from, to)
	var out []news.Alert
	for _, ev := range Detect(hours, p) {
		at := time.Unix(from+int64(ev.At)*int64(Bucket/time.Second), 0).Add(Bucket)
		out = append(out, SpikeAlert(t, hours, from, ev, p, at))
	}
	return out, nil
}

// WriteSpikes lists spike alerts for a person: one line each, then its
// top articles indented.
func WriteSpikes(w io.Writer, alerts []news.Alert) {
	for _, a := range alerts {
		sp := a.Spike
		kind := "spike"
		if sp.FollowUp > 0 {
			kind = fmt.Sprintf("growth %d", sp.FollowUp)
		}
		fmt.Fprintf(w, "%s  %-9s %4d articles from %3d sources in %s (baseline %s articles, %s sources over %d days)  %s\n",
			sp.End.Add(-Bucket).Format("2006-01-02 15:04 UTC"), kind, sp.Articles, sp.Sources, sp.Window,
			formatCount(sp.Baseline.Articles), formatCount(sp.Baseline.Sources), sp.Baseline.Days, a.ID)
		for _, t := range sp.TopArticles {
			fmt.Fprintf(w, "    %s  %s\n", t.Source, strings.Join(strings.Fields(t.Title), " "))
		}
	}
}
