package trends

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

// spikeKey is the store key of the last spike report sent for a topic.
func spikeKey(topic string) string { return "trends-spike." + topic }

type spikeState struct {
	Bucket   int64 `json:"bucket"` // unix hour the spike was first detected
	FollowUp int   `json:"followup"`
}

func (s *Service) spikeLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.CheckSpikes(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("trends: spike check", "err", err)
			}
		}
	}
}

// lookback is how many hours before now a spike check replays: enough
// for a full baseline of the current hour and an episode that began
// two days ago.
func lookback(p Params) int64 { return int64(BaselineDays*24 + p.Window + 48) }

// CheckSpikes runs Detect on every topic with spikes enabled, as of now,
// and publishes the latest report of a current spike unless it was sent
// already; it returns the alerts it published. Replicas may check at the
// same time: the alert's Nats-Msg-Id makes theirs one.
func (s *Service) CheckSpikes(ctx context.Context) ([]news.Alert, error) {
	cfg := s.cfg.Load()
	now := s.now()
	var sent []news.Alert
	var errs []error
	for _, t := range cfg.Topics {
		if !t.Spikes.Enabled {
			continue
		}
		a, err := s.checkTopic(ctx, t, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", t.ID, err))
		}
		if a != nil {
			sent = append(sent, *a)
		}
	}
	return sent, errors.Join(errs...)
}

func (s *Service) checkTopic(ctx context.Context, t config.Topic, now time.Time) (*news.Alert, error) {
	p := ParamsOf(t.Spikes)
	since, ok := s.Since(ctx, t.ID)
	if !ok {
		return nil, nil
	}
	step := int64(Bucket / time.Second)
	to := HourOf(now)
	from := max(HourOf(since), to-lookback(p)*step)
	hours := s.mem.Hours(t.ID, from, to)
	evs := Detect(hours, p)
	if len(evs) == 0 {
		return nil, nil
	}
	ev := evs[len(evs)-1]
	if ev.At < len(hours)-1-p.Window {
		return nil, nil // over, or too old to be news
	}
	bucket := from + int64(ev.Bucket)*step

	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var st spikeState
	var rev uint64
	got, err := s.b.StoreKV().Get(cctx, spikeKey(t.ID))
	switch {
	case errors.Is(err, bus.ErrKeyNotFound):
	case err != nil:
		return nil, err
	default:
		rev = got.Revision
		if err := json.Unmarshal(got.Value, &st); err != nil {
			// A damaged note must not silence the topic's spikes for
			// good: it is removed and started afresh (said once, not at
			// every check). A report sent before has the same id and is
			// dropped as a duplicate.
			s.log.Error("spike state unreadable; starting it afresh", "topic", t.ID, "err", err)
			st = spikeState{}
			if derr := s.b.StoreKV().DeleteAt(cctx, spikeKey(t.ID), rev); derr == nil {
				rev = 0
			}
		}
	}
	if bucket < st.Bucket || (bucket == st.Bucket && ev.FollowUp <= st.FollowUp) {
		return nil, nil
	}
	a := SpikeAlert(t, hours, from, ev, p, now)
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	ack, err := s.b.Publish(cctx, s.b.Names.AlertSubject(t.ID), data, a.ID)
	if err != nil {
		return nil, fmt.Errorf("publish spike %s: %w", a.ID, err)
	}
	next, _ := json.Marshal(spikeState{Bucket: bucket, FollowUp: ev.FollowUp})
	if rev == 0 {
		_, err = s.b.StoreKV().Create(cctx, spikeKey(t.ID), next)
	} else {
		_, err = s.b.StoreKV().Update(cctx, spikeKey(t.ID), next, rev)
	}
	if err != nil && !errors.Is(err, bus.ErrKeyExists) && !errors.Is(err, bus.ErrRevisionMismatch) {
		return nil, fmt.Errorf("spike state: %w", err)
	}
	if ack.Duplicate {
		return nil, nil
	}
	s.spikes.sent(t.ID)
	s.log.Info("spike alert", "topic", t.ID, "alert", a.ID, "articles", ev.Articles, "sources", ev.Sources,
		"baseline_articles", ev.Baseline.Articles, "window", t.Spikes.Window)
	return &a, nil
}

// SpikeAlert builds the alert for a report; hours starts at the unix
// hour from. Its Article is a headline, so that every sink renders it
// like an article alert; Spike holds the figures.
func SpikeAlert(t config.Topic, hours []Hour, from int64, ev Event, p Params, now time.Time) news.Alert {
	step := int64(Bucket / time.Second)
	first := max(ev.At-p.Window+1, 0)
	var top []news.SpikeArticle
	bySource := map[string]int{}
	for _, h := range hours[first : ev.At+1] {
		top = append(top, h.Top...)
		for src, n := range h.Sources {
			bySource[src] += n
		}
	}
	slices.SortStableFunc(top, func(a, b news.SpikeArticle) int { return cmp.Compare(b.Score, a.Score) })
	top = top[:min(len(top), topN)]
	sources := make([]news.SpikeSource, 0, len(bySource))
	for src, n := range bySource {
		sources = append(sources, news.SpikeSource{Source: src, Articles: n})
	}
	slices.SortFunc(sources, func(a, b news.SpikeSource) int {
		return cmp.Or(cmp.Compare(b.Articles, a.Articles), strings.Compare(a.Source, b.Source))
	})
	sources = sources[:min(len(sources), topN)]
	if top == nil {
		top = []news.SpikeArticle{}
	}
	bucket := time.Unix(from+int64(ev.Bucket)*step, 0).UTC()
	window := fmt.Sprintf("%dh", p.Window)
	sp := &news.Spike{
		Start:       time.Unix(from+int64(first)*step, 0).UTC(),
		End:         time.Unix(from+int64(ev.At+1)*step, 0).UTC(),
		Window:      window,
		Bucket:      bucket,
		FollowUp:    ev.FollowUp,
		Articles:    ev.Articles,
		Sources:     ev.Sources,
		Baseline:    ev.Baseline,
		TopArticles: top,
		TopSources:  sources,
	}
	name := t.Name
	if name == "" {
		name = t.ID
	}
	id := news.SpikeID(t.ID, bucket, ev.FollowUp)
	title := fmt.Sprintf("Coverage spike: %s: %d articles from %d sources in %s (usually %s)",
		name, ev.Articles, ev.Sources, window, formatCount(ev.Baseline.Articles))
	if ev.FollowUp > 0 {
		title = fmt.Sprintf("Coverage spike growing: %s: %d articles from %d sources in %s (usually %s)",
			name, ev.Articles, ev.Sources, window, formatCount(ev.Baseline.Articles))
	}
	var sum strings.Builder
	for _, a := range top {
		fmt.Fprintf(&sum, "- %s (%s)\n", a.Title, a.Source)
	}
	link := ""
	if len(top) > 0 {
		link = top[0].URL
	}
	return news.Alert{
		V: news.Version, ID: id, Topic: t.ID, TopicName: name, Kind: news.KindSpike, Spike: sp,
		Matches: []news.Match{},
		Article: news.Article{
			V: news.Version, ID: id, Source: "newswatch", URL: link, Title: title,
			Summary: strings.TrimSpace(sum.String()), Published: now.UTC(), Fetched: now.UTC(),
		},
		Created: now.UTC(),
	}
}

func formatCount(f float64) string {
	if f == float64(int(f)) {
		return fmt.Sprint(int(f))
	}
	return fmt.Sprintf("%.1f", f)
}
