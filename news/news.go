// Package news holds the messages that travel between newswatch's stages:
// articles found by the fetcher, and alerts raised by the classifier. They
// are encoded as JSON with a "v" field so that consumers outside newswatch
// can rely on a stable, versioned shape.
package news

import "time"

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
	V         int          `json:"v"`
	ID        string       `json:"id"` // "<topic>:<article id>"
	Topic     string       `json:"topic"`
	TopicName string       `json:"topic_name,omitempty"`
	Score     float64      `json:"score"`
	Matches   []Match      `json:"matches"`
	Topics    []AlertTopic `json:"topics,omitempty"`
	Article   Article      `json:"article"`
	Created   time.Time    `json:"created"`
}

// AllTopics is the alert's Topics, or its own topic alone for an alert
// raised before alerts carried Topics.
func (a *Alert) AllTopics() []AlertTopic {
	if len(a.Topics) > 0 {
		return a.Topics
	}
	return []AlertTopic{{ID: a.Topic, Name: a.TopicName, Score: a.Score, Matches: a.Matches}}
}

// AlertID is the id of the alert for topic on article; it doubles as the
// JetStream de-duplication id, so a repeated publish is harmless.
func AlertID(topic, articleID string) string { return topic + ":" + articleID }
