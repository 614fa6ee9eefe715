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
}

// AlertID is the id of the alert for topic on article; it doubles as the
// JetStream de-duplication id, so a repeated publish is harmless.
func AlertID(topic, articleID string) string { return topic + ":" + articleID }
