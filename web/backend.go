package web

import (
	"context"
	"time"

	"newswatch/feedback"
	"newswatch/news"
	"newswatch/notifier"
)

// Backend is what the status page and the JSON API read. Every value it
// returns is shown as is, so an implementation must leave secrets out;
// the server also scrubs every string Secrets names from each response,
// as a second line of defence.
type Backend interface {
	// Sources lists every configured source with its fetch state, in
	// config order.
	Sources(ctx context.Context) ([]Source, error)
	// Topics lists every topic with the alerts it raised since since.
	Topics(ctx context.Context, since time.Time) ([]Topic, error)
	// Subscribers lists every subscriber with its delivery state.
	Subscribers(ctx context.Context) ([]Subscriber, error)
	// Alerts lists the latest alerts, newest first.
	Alerts(ctx context.Context, q Query) ([]Alert, error)
	// DeadLetters lists the latest dead letters, newest first.
	DeadLetters(ctx context.Context, q Query) ([]DeadLetter, error)
	// Secrets are the strings that must never be served.
	Secrets() []string
}

// Query selects a page of alerts or dead letters: the Limit newest with a
// stream sequence below Before (0: from the newest), of Topic (alerts) or
// Subscriber (dead letters) when set.
type Query struct {
	Topic      string
	Subscriber string
	Before     uint64
	Limit      int
	// Full asks for each dead letter's whole record (the alert and every
	// attempt), as `newswatch deadletters list -json` prints it.
	Full bool
}

// Source is one source and its fetch state.
type Source struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	URL    string `json:"url"` // credentials and secret-looking query values removed
	Status string `json:"status"`
	// Error is the last fetch error; Problem says it in words.
	Error               string    `json:"error,omitempty"`
	Problem             string    `json:"problem,omitempty"`
	HTTPStatus          int       `json:"http_status,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastFetch           time.Time `json:"last_fetch,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	NextFetch           time.Time `json:"next_fetch,omitzero"`
	NextDue             time.Time `json:"next_due,omitzero"` // the same as next_fetch, under the CLI's name
	Interval            Duration  `json:"interval"`
	ItemsSeen           int64     `json:"items_seen"`
	NotModified         int64     `json:"not_modified"`
}

// Topic is one topic and its recent alert count.
type Topic struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Query       string   `json:"query"`
	Alerts24h   int64    `json:"alerts_24h"` // -1: unknown
	Subscribers []string `json:"subscribers"`
	// Feedback counts subscribers' labels on the topic's alerts; nil when
	// the backend keeps none.
	Feedback *feedback.Counts `json:"feedback,omitempty"`
	// Learned is how the topic's learned second stage stands; absent
	// when the stage is off (learned.enabled false).
	Learned *LearnedStage `json:"learned,omitempty"`
}

// LearnedStage is a topic's learned second stage as last trained: whether
// it may veto matches, and why (or why not).
type LearnedStage struct {
	Acting bool   `json:"acting"`
	Reason string `json:"reason"`
	// Error is why the last training failed: the stage is off, or acts
	// on older labels, until a training succeeds.
	Error string `json:"error,omitempty"`
}

// Subscriber is one subscriber and its delivery state.
type Subscriber struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	Topics []string `json:"topics"` // empty: every topic
	// Target says where deliveries go without revealing credentials: a
	// webhook's scheme and host, an email subscriber's addresses.
	Target string `json:"target"`
	// Running is false when this process does not run the subscriber's
	// deliveries (another replica may).
	Running      bool      `json:"running"`
	Backlog      int64     `json:"backlog"` // alerts waiting; -1: unknown
	Delivered    int64     `json:"delivered"`
	Failures     int64     `json:"failures"`
	DeadLettered int64     `json:"dead_lettered"`
	LastResult   string    `json:"last_result,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastAt       time.Time `json:"last_at,omitzero"`
	NextRetry    time.Time `json:"next_retry,omitzero"`
	Disabled     bool      `json:"disabled,omitempty"`
	// DisabledReason says why deliveries stopped (410 Gone) and
	// DisabledAt when; Running is false meanwhile.
	DisabledReason string    `json:"disabled_reason,omitempty"`
	DisabledAt     time.Time `json:"disabled_at,omitzero"`
	// ConsumerError says why the subscriber has no consumer to pull
	// from (lost and not made again, or pulls failing), since
	// ConsumerErrorSince: nothing is delivered to it meanwhile.
	ConsumerError      string    `json:"consumer_error,omitempty"`
	ConsumerErrorSince time.Time `json:"consumer_error_since,omitzero"`
	// Folded counts alerts not sent because the subscriber got the same
	// article with another of its topics.
	Folded int64 `json:"folded,omitempty"`
}

// Alert is one raised alert, without the article's full text.
type Alert struct {
	Seq       uint64       `json:"seq"`
	ID        string       `json:"id"`
	Topic     string       `json:"topic"`
	TopicName string       `json:"topic_name,omitempty"`
	Score     float64      `json:"score"`
	Title     string       `json:"title"`
	URL       string       `json:"url"`
	Source    string       `json:"source"`
	Published time.Time    `json:"published,omitzero"`
	Created   time.Time    `json:"created"`
	Matches   []news.Match `json:"matches"`
	// Feedback are the status page's signed buttons ("/feedback/?…").
	Feedback *news.FeedbackLinks `json:"feedback,omitempty"`
}

// FeedbackBackend is a Backend that keeps subscribers' labels: the page
// then shows them per topic, and buttons on each alert.
type FeedbackBackend interface {
	// FeedbackCounts counts labels per topic id.
	FeedbackCounts(ctx context.Context) (map[string]feedback.Counts, error)
	// FeedbackLinks are the page's links for an alert; nil: none.
	FeedbackLinks(alertID string, created time.Time) *news.FeedbackLinks
}

// FeedbackLister is a Backend that serves its labels whole at
// /api/feedback: the CLI reads them there while the daemon holds data_dir.
type FeedbackLister interface {
	// FeedbackRecords lists every label, oldest first; unreadable counts
	// the records left out because they could not be read.
	FeedbackRecords(ctx context.Context) (recs []feedback.Record, unreadable int, err error)
}

// feedbackDecorate adds labels and buttons when the backend keeps them.
// Counts that cannot be read leave the topics without them, and the log
// says why.
func (s *status) feedbackDecorate(ctx context.Context, ts []Topic, as []Alert) {
	fb, ok := s.b.(FeedbackBackend)
	if !ok {
		return
	}
	if len(ts) > 0 {
		if counts, err := fb.FeedbackCounts(ctx); err != nil {
			s.log.Warn("feedback counts not read; topics are shown without them", "err", err)
		} else {
			for i := range ts {
				c := counts[ts[i].ID]
				ts[i].Feedback = &c
			}
		}
	}
	for i := range as {
		as[i].Feedback = fb.FeedbackLinks(as[i].ID, as[i].Created)
	}
}

// DeadLetter is one delivery that gave up.
type DeadLetter struct {
	Seq        uint64    `json:"seq"`
	Subscriber string    `json:"subscriber"`
	AlertID    string    `json:"alert_id"`
	Topic      string    `json:"topic"`
	Title      string    `json:"title"`
	URL        string    `json:"url"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	DeadAt     time.Time `json:"dead_at"`
	// Record is the stored dead letter, with ?full=1 only.
	Record *notifier.DeadLetter `json:"record,omitempty"`
}

// Duration is a time.Duration that reads as "10m0s" in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

func (d Duration) String() string { return time.Duration(d).String() }
