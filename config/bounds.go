package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Bounds of the numeric and duration keys. A value beyond them is a typo
// or a hostile config, not a setting: fetch.workers: 100000000 or
// fetch.timeout: 1ns exhaust the host long before anything is fetched.
// docs/config.schema.json states the integer bounds (TestSchemaBounds
// keeps them in step) and describes the duration bounds.
const (
	MaxWorkers      = 1024
	MaxPerHost      = 1024
	MinMaxBodyBytes = 1 << 10
	MaxMaxBodyBytes = 256 << 20
	MaxAttempts     = 1000
	MaxPerHourCap   = 10000
	MaxReplicas     = 5

	day = 24 * time.Hour

	MinInterval     = time.Second
	MaxInterval     = 30 * day
	MinTimeout      = 100 * time.Millisecond
	MaxTimeout      = 10 * time.Minute
	MaxHostInterval = time.Hour
	MinSyncInterval = 100 * time.Millisecond
	MaxSyncInterval = time.Hour
	MinDedupWindow  = time.Minute
	MinRetention    = time.Hour
	MaxRetention    = 3650 * day
	MinRetryDelay   = 10 * time.Millisecond
	MaxRetryInitial = day
	MaxRetryMax     = 7 * day
	MaxStoryWindow  = 30 * day
	MinHeartbeat    = 10 * time.Second
	MaxWeight       = 1000
	MaxMinScore     = 1e6
)

// validateBounds checks every numeric and duration key against its
// bounds, after defaults are applied (so an unset key is in bounds).
func (c *Config) validateBounds() Problems {
	p := &problems{c: c}
	num, dur, zeroOr, float := p.num, p.dur, p.zeroOr, p.float

	n := c.NATS
	zeroOr(n.SyncInterval, MinSyncInterval, MaxSyncInterval, "nats", "sync_interval")
	dur(n.DedupWindow, MinDedupWindow, MaxRetention, "nats", "dedup_window")
	dur(n.ArticleMaxAge, MinRetention, MaxRetention, "nats", "article_max_age")
	dur(n.SeenTTL, MinRetention, MaxRetention, "nats", "seen_ttl")

	f := c.Fetch
	dur(f.Interval, MinInterval, MaxInterval, "fetch", "interval")
	dur(f.Timeout, MinTimeout, MaxTimeout, "fetch", "timeout")
	num(f.MaxBodyBytes, MinMaxBodyBytes, MaxMaxBodyBytes, "fetch", "max_body_bytes")
	num(int64(f.Workers), 1, MaxWorkers, "fetch", "workers")
	num(int64(f.PerHost), 0, MaxPerHost, "fetch", "per_host")
	num(int64(f.FullTextWorkers), 0, MaxFullTextWorkers, "fetch", "full_text_workers")
	zeroOr(f.FullTextBudget, MinTimeout, MaxFullTextBudget, "fetch", "full_text_budget")
	if f.HostInterval > 0 { // negative: no spacing at all
		dur(f.HostInterval, 0, MaxHostInterval, "fetch", "host_interval")
	}

	for i, s := range c.Sources {
		dur(s.Interval, MinInterval, MaxInterval, "sources", i, "interval")
	}
	for i, t := range c.Topics {
		float(t.MinScore, 0, MaxMinScore, "topics", i, "min_score")
		for k, w := range t.Weights {
			float(w, 0, MaxWeight, "topics", i, "weights", k)
		}
		if t.StoryWindow != nil {
			dur(*t.StoryWindow, 0, MaxStoryWindow, "topics", i, "story_window")
		}
	}
	for i, s := range c.Subscribers {
		dur(s.Timeout, MinTimeout, MaxTimeout, "subscribers", i, "timeout")
		num(int64(s.MaxPerHour), 0, MaxPerHourCap, "subscribers", i, "max_per_hour")
		num(int64(s.Retry.Attempts), 1, MaxAttempts, "subscribers", i, "retry", "attempts")
		dur(s.Retry.Initial, MinRetryDelay, MaxRetryInitial, "subscribers", i, "retry", "initial")
		if s.Retry.Max < s.Retry.Initial {
			p.add(fmt.Sprintf("%s is less than retry.initial (%s)", fmtDuration(s.Retry.Max), fmtDuration(s.Retry.Initial)), "subscribers", i, "retry", "max")
		} else {
			dur(s.Retry.Max, MinRetryDelay, MaxRetryMax, "subscribers", i, "retry", "max")
		}
	}
	if c.Events.SourceFailingAfter != nil {
		num(int64(*c.Events.SourceFailingAfter), 0, MaxAttempts, "events", "source_failing_after")
	}
	zeroOr(c.Events.SourceStaleAfter, MinInterval, MaxInterval, "events", "source_stale_after")
	dur(c.Events.Heartbeat, MinHeartbeat, MaxInterval, "events", "heartbeat")
	num(int64(c.SMTP.Port), 1, 65535, "smtp", "port")
	dur(c.SMTP.Timeout, MinTimeout, MaxTimeout, "smtp", "timeout")
	return p.ps
}

// num checks an integer against its bounds.
func (p *problems) num(v, lo, hi int64, path ...any) {
	switch {
	case v < lo:
		p.add(fmt.Sprintf("%d is less than the minimum %d", v, lo), path...)
	case v > hi:
		p.add(fmt.Sprintf("%d is more than the maximum %d", v, hi), path...)
	}
}

// dur checks a duration against its bounds.
func (p *problems) dur(d, lo, hi time.Duration, path ...any) {
	switch {
	case d < lo:
		p.add(fmt.Sprintf("%s is less than the minimum %s", fmtDuration(d), fmtDuration(lo)), path...)
	case d > hi:
		p.add(fmt.Sprintf("%s is more than the maximum %s", fmtDuration(d), fmtDuration(hi)), path...)
	}
}

// zeroOr is dur for a key whose zero keeps the built-in behaviour.
func (p *problems) zeroOr(d, lo, hi time.Duration, path ...any) {
	if d != 0 {
		p.dur(d, lo, hi, path...)
	}
}

// float checks a number against its bounds.
func (p *problems) float(v, lo, hi float64, path ...any) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		p.add(fmt.Sprintf("%v is not a number", v), path...)
	case v < lo:
		p.add(fmt.Sprintf("%g is less than the minimum %g", v, lo), path...)
	case v > hi:
		p.add(fmt.Sprintf("%g is more than the maximum %g", v, hi), path...)
	}
}

// fmtDuration writes a duration as people write it in the config: 10m,
// 720h, 1h30m, not 10m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
