// Package news holds the messages that travel between newswatch's stages:
// articles found by the fetcher, and alerts raised by the classifier. They
// are encoded as JSON with a "v" field so that consumers outside newswatch
// can rely on a stable, versioned shape.
package news

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Version is the schema version carried in every message's "v" field.
const Version = 1

// Article is one item of a feed or page, normalised.
type Article struct {
	V      int    `json:"v"`
	ID     string `json:"id"`     // stable id: see ArticleID
	Source string `json:"source"` // source id from the config
	URL    string `json:"url"`
	GUID   string `json:"guid,omitempty"`
	Title  string `json:"title"`
	// Summary and Content are plain text (HTML stripped, entities decoded);
	// the HTML originals are kept for consumers that want full fidelity.
	Summary     string    `json:"summary,omitempty"`
	Content     string    `json:"content,omitempty"`
	SummaryHTML string    `json:"summary_html,omitempty"`
	ContentHTML string    `json:"content_html,omitempty"`
	Categories  []string  `json:"categories,omitempty"`
	Authors     []string  `json:"authors,omitempty"`
	Language    string    `json:"language,omitempty"`
	Published   time.Time `json:"published,omitzero"`
	Updated     time.Time `json:"updated,omitzero"`
	Fetched     time.Time `json:"fetched"`
	// Truncated is set when a text field was cut to MaxFieldBytes (see Cap).
	Truncated bool `json:"truncated,omitempty"`
	// FullTextError is why the page of a full_text source could not be
	// fetched: the article (and every alert on it) then holds the feed's
	// teaser only.
	FullTextError string `json:"full_text_error,omitempty"`
}

// Match is one query term that contributed to a topic match.
type Match struct {
	Term    string `json:"term"`
	Field   string `json:"field"` // title, summary, content, category, url, source
	Count   int    `json:"count"`
	Snippet string `json:"snippet,omitempty"` // text around the first hit, term marked with « »
}

// TopicMatch is the classifier's verdict for one topic on one article.
type TopicMatch struct {
	Topic   string  `json:"topic"`
	Score   float64 `json:"score"`
	Matches []Match `json:"matches"`
}

// AlertTopic is one topic an article matched, with why.
type AlertTopic struct {
	ID      string  `json:"id"`
	Name    string  `json:"name,omitempty"`
	Score   float64 `json:"score"`
	Matches []Match `json:"matches"`
}

// Alert is raised once per (topic, article). Topic, TopicName, Score and
// Matches are the alert's own topic; Topics lists every topic the article
// matched, in the classifier's (the config's) order, so that a subscriber
// of several of them can be sent the article once, naming all of its
// topics. A delivered alert's Topics holds only the subscriber's topics.
type Alert struct {
	V  int    `json:"v"`
	ID string `json:"id"` // "<topic>:<article id>"
	// Type is empty for an alert on an article; "event.<kind>" for an
	// operational event, which is then in Event (see Event).
	Type      string       `json:"type,omitempty"`
	Topic     string       `json:"topic"`
	TopicName string       `json:"topic_name,omitempty"`
	Score     float64      `json:"score"`
	Matches   []Match      `json:"matches"`
	Topics    []AlertTopic `json:"topics,omitempty"`
	Article   Article      `json:"article"`
	Created   time.Time    `json:"created"`

	// Kind is "" for an alert about one article, KindSpike for a
	// coverage spike (Spike is then set, and Article is a headline that
	// renders like an article: see docs/trends.md).
	Kind  string `json:"kind,omitempty"`
	Spike *Spike `json:"spike,omitempty"`
	// Feedback holds a delivered alert's signed "relevant" / "not
	// relevant" links for its subscriber; nil on the bus, and when
	// http.public_url is unset.
	Feedback *FeedbackLinks `json:"feedback,omitempty"`
	Event    *Event         `json:"event,omitempty"`
}

// FeedbackLinks are the URLs a subscriber opens to judge an alert.
type FeedbackLinks struct {
	Relevant    string `json:"relevant"`
	NotRelevant string `json:"not_relevant"`
}

// AllTopics is the alert's Topics, or its own topic alone for an alert
// raised before alerts carried Topics.
func (a *Alert) AllTopics() []AlertTopic {
	if len(a.Topics) > 0 {
		return a.Topics
	}
	return []AlertTopic{{ID: a.Topic, Name: a.TopicName, Score: a.Score, Matches: a.Matches}}
}

// KindSpike marks an alert that reports a jump in a topic's coverage.
const KindSpike = "spike"

// Spike is a topic's coverage jump: the window's articles and distinct
// sources against the same hours of previous days.
type Spike struct {
	Start    time.Time `json:"start"`    // first hour of the window
	End      time.Time `json:"end"`      // end of the window (exclusive)
	Window   string    `json:"window"`   // e.g. "6h"
	Bucket   time.Time `json:"bucket"`   // the hour the spike was first detected; with the topic, its identity
	FollowUp int       `json:"followup"` // 0 for the first report, n for the n-th growth
	Articles int       `json:"articles"`
	Sources  int       `json:"sources"`
	Baseline Baseline  `json:"baseline"`

	TopArticles []SpikeArticle `json:"top_articles"`
	TopSources  []SpikeSource  `json:"top_sources"`
}

// Baseline is the seasonal median and median absolute deviation of the
// same window on previous days.
type Baseline struct {
	Days        int     `json:"days"`
	Articles    float64 `json:"articles"`
	ArticlesMAD float64 `json:"articles_mad"`
	Sources     float64 `json:"sources"`
	SourcesMAD  float64 `json:"sources_mad"`
}

// SpikeArticle is one of the highest-scoring articles of a spike.
type SpikeArticle struct {
	ID     string  `json:"id"`
	Title  string  `json:"title"`
	URL    string  `json:"url"`
	Source string  `json:"source"`
	Score  float64 `json:"score"`
}

// SpikeSource is one of the sources that wrote most in a spike.
type SpikeSource struct {
	Source   string `json:"source"`
	Articles int    `json:"articles"`
}

// SpikeID is the id of a topic's spike first detected in the hour
// starting at bucket; followUp > 0 is its n-th growth report.
func SpikeID(topic string, bucket time.Time, followUp int) string {
	id := "spike:" + topic + ":" + strconv.FormatInt(bucket.Unix(), 10)
	if followUp > 0 {
		id += ":" + strconv.Itoa(followUp)
	}
	return id
}

// AlertID is the id of the alert for topic on article; it doubles as the
// JetStream de-duplication id, so a repeated publish is harmless.
func AlertID(topic, articleID string) string { return topic + ":" + articleID }

// MaxFieldBytes is the most a stored article keeps of each of Summary,
// Content, SummaryHTML and ContentHTML: one hostile item must fit in a bus
// message whatever its feed holds.
const MaxFieldBytes = 256 << 10

// Cap cuts each text field longer than limit bytes (limit <= 0:
// MaxFieldBytes) on a rune boundary and marks the article Truncated. It
// reports whether anything was cut.
func (a *Article) Cap(limit int) bool {
	if limit <= 0 {
		limit = MaxFieldBytes
	}
	cut := false
	for _, f := range []*string{&a.Title, &a.Summary, &a.Content, &a.SummaryHTML, &a.ContentHTML} {
		if len(*f) > limit {
			*f = CutUTF8(*f, limit)
			cut = true
		}
	}
	if cut {
		a.Truncated = true
	}
	return cut
}

// CutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a rune.
func CutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := n
	// A rune is at most utf8.UTFMax bytes: step back over continuation
	// bytes to the start of the rune that straddles the cut.
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Event is an operational event: something an operator must know about
// newswatch itself (a source failing, the store refusing writes, data
// lost, a delivery given up, or a heartbeat that says it still runs). It
// travels on "<prefix>.events.<kind>" as JSON, and reaches a subscriber
// that asked for its kind the way alerts do, inside an Alert whose Type
// is "event.<kind>" (see EventAlert).
type Event struct {
	V  int    `json:"v"`
	ID string `json:"id"` // de-duplication id: one per occurrence, whatever the replicas
	// Event is the kind: source.failing, source.recovered, store.error,
	// data.lost, deadletter or heartbeat.
	Event   string    `json:"event"`
	At      time.Time `json:"at"`
	Summary string    `json:"summary"` // one line for people
	Detail  string    `json:"detail,omitempty"`
	// Source is set on source.* events.
	Source string `json:"source,omitempty"`
	// Failures is the number of failed fetches in a row (source.*).
	Failures    int       `json:"failures,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Since is when the problem began (source.*, store.error, data.lost).
	Since time.Time `json:"since,omitzero"`
	// Subscriber and Alert name the delivery given up (deadletter).
	Subscriber string `json:"subscriber,omitempty"`
	Alert      string `json:"alert,omitempty"`
	// Next is when the next heartbeat is due at the latest (heartbeat):
	// a receiver that has none by then may say newswatch is down.
	Next time.Time `json:"next,omitzero"`
	// Host is the process that raised the event.
	Host string `json:"host,omitempty"`
}

// EventType is the Alert.Type (and webhook "type") of an event kind.
func EventType(kind string) string { return "event." + kind }

// EventAlert wraps an event for delivery: the id the sinks derive their
// webhook-id and Message-ID from is "event:<event id>".
func EventAlert(e *Event) *Alert {
	return &Alert{V: Version, ID: "event:" + e.ID, Type: EventType(e.Event), Created: e.At, Event: e}
}
