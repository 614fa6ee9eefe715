// Package news holds the messages that travel between newswatch's stages:
// articles found by the fetcher, and alerts raised by the classifier. They
// are encoded as JSON with a "v" field so that consumers outside newswatch
// can rely on a stable, versioned shape.
package news

import (
	"strconv"
	"time"
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

// Alert is raised once per (topic, article) and delivered to every
// subscriber of the topic.
type Alert struct {
	V         int       `json:"v"`
	ID        string    `json:"id"` // "<topic>:<article id>"
	Topic     string    `json:"topic"`
	TopicName string    `json:"topic_name,omitempty"`
	Score     float64   `json:"score"`
	Matches   []Match   `json:"matches"`
	Article   Article   `json:"article"`
	Created   time.Time `json:"created"`

	// Kind is "" for an alert about one article, KindSpike for a
	// coverage spike (Spike is then set, and Article is a headline that
	// renders like an article: see docs/trends.md).
	Kind  string `json:"kind,omitempty"`
	Spike *Spike `json:"spike,omitempty"`
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
