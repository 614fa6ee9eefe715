package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/clock"
	"newswatch/news"
)

// setupEvents makes the stages raise operational events: sources that
// fail and recover (fetch path), faults (store errors, data lost: from
// the bus's Health), and dead letters (notifier).
func (p *Pipeline) setupEvents() {
	p.events = bus.NewEvents(p.b, p.log)
	p.m.RegisterEvents(p.events.Pending, p.events.Dropped)
	p.fetch.events = p.events
	p.fetch.eventCfg = func() config.Events { return p.cfg.Load().Events }
	p.disp.SetEvents(p.events)
	p.b.Health.OnFault(func(f bus.Fault) { p.events.Emit(bus.FaultEvent(f)) })
	// Faults found before the pipeline existed (data lost at start): an
	// event raised twice has the same id and is published once.
	for _, f := range p.b.Health.Faults() {
		p.events.Emit(bus.FaultEvent(f))
	}
}

// Events is the pipeline's publisher of operational events.
func (p *Pipeline) Events() *bus.Events { return p.events }

// sourceEvent updates the failure run of a source whose state st is
// about to be saved, and returns the event it raises, if any: one
// source.failing when the run reaches events.source_failing_after
// failures or events.source_stale_after without success, and one
// source.recovered when a source that was failing succeeds again. The
// state keeps the event's id, so neither repeats with each fetch, and
// the ids derive from the state, so a retried job raises the same one.
func (s *fetchStage) sourceEvent(st *SourceState) *news.Event {
	if s.eventCfg == nil {
		return nil
	}
	cfg := s.eventCfg()
	if st.ConsecutiveFailures == 0 {
		var ev *news.Event
		if st.FailingEvent != "" {
			ev = &news.Event{
				ID:          "source.recovered:" + strings.TrimPrefix(st.FailingEvent, "source.failing:"),
				Event:       "source.recovered",
				At:          st.LastFetch,
				Source:      st.ID,
				Since:       st.FailingSince,
				LastSuccess: st.LastSuccess,
				Summary:     fmt.Sprintf("source %s recovered", st.ID),
			}
			if !st.FailingSince.IsZero() {
				ev.Summary += fmt.Sprintf(" after failing for %s", roundDuration(st.LastFetch.Sub(st.FailingSince)))
			}
		}
		st.FailingSince, st.FailingEvent = time.Time{}, ""
		return ev
	}
	if st.FailingSince.IsZero() {
		st.FailingSince = st.LastFetch
	}
	if st.FailingEvent != "" {
		return nil
	}
	n := cfg.FailingAfter()
	ref := st.LastSuccess
	if ref.IsZero() {
		ref = st.FailingSince
	}
	byCount := n > 0 && st.ConsecutiveFailures >= n
	stale := cfg.SourceStaleAfter > 0 && st.LastFetch.Sub(ref) >= cfg.SourceStaleAfter
	if !byCount && !stale {
		return nil
	}
	var why string
	switch {
	case byCount:
		why = fmt.Sprintf("%d failed fetches in a row", st.ConsecutiveFailures)
	case st.LastSuccess.IsZero():
		why = fmt.Sprintf("no success since it failed first, %s ago", roundDuration(st.LastFetch.Sub(ref)))
	default:
		why = fmt.Sprintf("no success for %s", roundDuration(st.LastFetch.Sub(ref)))
	}
	// The id is the run's: failures since the last success.
	st.FailingEvent = fmt.Sprintf("source.failing:%s:%d", st.ID, st.LastSuccess.UnixNano())
	if st.LastSuccess.IsZero() {
		st.FailingEvent = fmt.Sprintf("source.failing:%s:0", st.ID)
	}
	return &news.Event{
		ID:          st.FailingEvent,
		Event:       "source.failing",
		At:          st.LastFetch,
		Source:      st.ID,
		Failures:    st.ConsecutiveFailures,
		Since:       st.FailingSince,
		LastSuccess: st.LastSuccess,
		Detail:      st.Error,
		Summary:     fmt.Sprintf("source %s failing: %s: %s", st.ID, why, news.CutUTF8(st.Error, 300)),
	}
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// wantsHeartbeat reports whether some subscriber asks for heartbeats.
func wantsHeartbeat(cfg *config.Config) bool {
	return slices.ContainsFunc(cfg.Subscribers, func(s config.Subscriber) bool { return s.WantsEvent("heartbeat") })
}

// heartbeat raises a heartbeat event in every slot of events.heartbeat
// while some subscriber asks for them, until ctx ends. Every replica that
// schedules raises it; the slot is the event's id, so one is published
// per slot. A receiver that gets none by the event's "next" time knows
// that newswatch, or delivery to it, has stopped.
func (p *Pipeline) heartbeat(ctx context.Context) {
	var last time.Time
	for ctx.Err() == nil {
		cfg := p.cfg.Load()
		iv := cfg.Events.Heartbeat
		if iv <= 0 {
			iv = 5 * time.Minute
		}
		now := time.Now()
		slot := now.Truncate(iv)
		if !slot.Equal(last) && wantsHeartbeat(cfg) {
			last = slot
			faults := len(p.b.Health.Faults())
			summary := "heartbeat: newswatch is running"
			if faults > 0 {
				summary += fmt.Sprintf(" (%d faults: see /readyz)", faults)
			}
			p.events.Emit(news.Event{
				ID:      fmt.Sprintf("heartbeat:%d", slot.UnixNano()),
				Event:   "heartbeat",
				At:      now.UTC(),
				Next:    slot.Add(2 * iv).UTC(),
				Summary: summary,
			})
		}
		clock.Sleep(ctx, slot.Add(iv).Sub(now))
	}
}

// initSourceMetrics gives every configured source its last-success
// series from the start: the stored time of its last success, or 0 for
// one that never succeeded, so that an alert rule on the series fires
// for it too. Series of sources no longer configured go. The states are
// read in one pass, not one round trip per source: this runs at start
// and at each reload.
func (p *Pipeline) initSourceMetrics(ctx context.Context) {
	if p.m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	states, err := LoadStates(ctx, p.b.StateKV())
	if err != nil {
		p.log.Warn("source states not read for the last-success metrics; a source without a series yet shows 0 until its next success", "err", err)
	}
	last := map[string]time.Time{}
	for _, src := range p.cfg.Load().Sources {
		last[src.ID] = states[src.ID].LastSuccess
	}
	p.m.Sources(last)
}
