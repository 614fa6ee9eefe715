package notifier

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"newswatch/news"
)

// EventAlert is the "type" of a newswatch-format webhook payload.
const EventAlert = "alert.created"

// EventFollowUp is the "type" of a later report of a story already
// delivered (see Stories).
const EventFollowUp = "alert.followup"

// EventSpike and EventSpikeFollowUp are the "type" of a coverage spike
// alert and of its growth reports (docs/trends.md).
const (
	EventSpike         = "spike.created"
	EventSpikeFollowUp = "spike.followup"
)

// render turns an alert into a webhook body; st is set for a follow-up.
type render func(a *news.Alert, st *Story) ([]byte, error)

// renderer returns the webhook body renderer of a config format, or nil
// for an unknown one.
func renderer(format string) render {
	switch format {
	case "":
		return renderAlert
	case "slack":
		return chat(renderSlack)
	case "discord":
		return chat(renderDiscord)
	case "teams":
		return chat(renderTeams)
	}
	return nil
}

// chat adapts a chat preset: a follow-up is the same message with its
// title saying so.
func chat(f func(*news.Alert) ([]byte, error)) render {
	return func(a *news.Alert, st *Story) ([]byte, error) {
		if st != nil {
			c := *a
			c.Article.Title = "Also reported by " + headerSafe(a.Article.Source, 60) + ": " + a.Article.Title
			a = &c
		}
		return f(a)
	}
}

// alertPayload is the newswatch-format webhook body: the alert itself,
// with the "type" and "timestamp" Standard Webhooks recommends on top.
// docs/alert.schema.json describes it.
type alertPayload struct {
	Type      string        `json:"type"`
	Timestamp time.Time     `json:"timestamp"`
	Story     *storyPayload `json:"story,omitempty"`
	news.Alert
}

// storyPayload tells a follow-up's receiver which story it belongs to.
type storyPayload struct {
	ID      string   `json:"id"` // the first alert's id
	Count   int      `json:"count"`
	Sources []string `json:"sources"`
}

func renderAlert(a *news.Alert, st *Story) ([]byte, error) {
	p := alertPayload{Type: EventAlert, Timestamp: a.Created, Alert: *a}
	if st != nil {
		p.Type = EventFollowUp
		p.Story = &storyPayload{ID: st.ID, Count: st.Count, Sources: st.Sources}
		if p.Story.Sources == nil {
			p.Story.Sources = []string{}
		}
	}
	if a.Kind == news.KindSpike && a.Spike != nil {
		p.Type, p.Story = EventSpike, nil
		if a.Spike.FollowUp > 0 {
			p.Type = EventSpikeFollowUp
		}
	}
	if p.V == 0 {
		p.V = news.Version
	}
	if p.Article.V == 0 {
		p.Article.V = news.Version
	}
	if p.Matches == nil {
		p.Matches = []news.Match{} // an array, never null, as the schema says
	}
	// topics is always there, so receivers need not fall back on topic.
	p.Topics = append([]news.AlertTopic(nil), a.AllTopics()...)
	for i := range p.Topics {
		if p.Topics[i].Matches == nil {
			p.Topics[i].Matches = []news.Match{}
		}
	}
	return json.Marshal(p)
}

// Lengths for chat presets: enough to judge an alert at a glance, well
// under the services' limits (Slack 3000 per block, Discord 4096).
const (
	chatExcerpt = 500
	chatTitle   = 250
)

// excerpt is the article's text for a glance: the summary, else the start
// of the content, whitespace collapsed, cut at n runes.
func excerpt(a *news.Article, n int) string {
	s := a.Summary
	if strings.TrimSpace(s) == "" {
		s = a.Content
	}
	return headerSafe(s, n)
}

// title is the article title for display, never empty.
func title(a *news.Article) string {
	if t := headerSafe(a.Title, chatTitle); t != "" {
		return t
	}
	return "(untitled)"
}

// topicName is the topic's display name, falling back to its id.
func topicName(a *news.Alert) string {
	if a.TopicName != "" {
		return headerSafe(a.TopicName, 100)
	}
	return a.Topic
}

// displayName is an alert topic's display name, falling back to its id.
func displayName(t news.AlertTopic) string {
	if t.Name != "" {
		return headerSafe(t.Name, 100)
	}
	return headerSafe(t.ID, 100)
}

// topicNames names every topic of the alert (the subscriber's topics the
// article matched): "Fentanyl and synthetic opioids, US–China relations".
func topicNames(a *news.Alert) string {
	ts := a.AllTopics()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = displayName(t)
	}
	return strings.Join(names, ", ")
}

// allMatches lists the matches of every topic of the alert, each term and
// field once.
func allMatches(a *news.Alert) []news.Match {
	ts := a.AllTopics()
	if len(ts) == 1 {
		return ts[0].Matches
	}
	seen := map[[2]string]bool{}
	var out []news.Match
	for _, t := range ts {
		for _, m := range t.Matches {
			k := [2]string{m.Term, m.Field}
			if !seen[k] {
				seen[k] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// safeURL returns u if it is an absolute http(s) URL, else "": feed
// content chooses article links, and a javascript: or data: link must not
// become clickable.
func safeURL(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.String()
}

// matchSummary lists matched terms: `fentanyl (title ×2), seizure (content)`.
func matchSummary(ms []news.Match, max int) string {
	parts := make([]string, 0, len(ms))
	for i, m := range ms {
		if i == max {
			parts = append(parts, fmt.Sprintf("+%d more", len(ms)-max))
			break
		}
		s := headerSafe(m.Term, 60) + " (" + headerSafe(m.Field, 20)
		if m.Count > 1 {
			s += " ×" + strconv.Itoa(m.Count)
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to; without it a feed could ping <!channel> or forge <url|links>.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func renderSlack(a *news.Alert) ([]byte, error) {
	t := title(&a.Article)
	head := "*" + slackEscape(t) + "*"
	if u := safeURL(a.Article.URL); u != "" {
		// In <url|text>, '|' and '>' end the URL: percent-encode them.
		u = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(u)
		head = "*<" + slackEscape(u) + "|" + slackEscape(t) + ">*"
	}
	meta := fmt.Sprintf("_%s_ · %s · score %s", slackEscape(topicNames(a)),
		slackEscape(headerSafe(a.Article.Source, 60)), formatScore(a.Score))
	blocks := []any{
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": head + "\n" + meta}},
	}
	if ex := excerpt(&a.Article, chatExcerpt); ex != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "plain_text", "text": ex, "emoji": false}})
	}
	if ms := matchSummary(allMatches(a), 8); ms != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []any{
			map[string]any{"type": "plain_text", "text": "Matched: " + ms, "emoji": false},
		}})
	}
	return json.Marshal(map[string]any{
		// text is the notification and fallback; Slack treats it as mrkdwn.
		"text":         slackEscape(topicNames(a) + ": " + t),
		"blocks":       blocks,
		"unfurl_links": false,
		"unfurl_media": false,
	})
}

// discordEscape backslash-escapes Discord markdown so that feed text shows
// as written and cannot forge masked links.
func discordEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\*_~`|>[]()#<", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func renderDiscord(a *news.Alert) ([]byte, error) {
	embed := map[string]any{
		"title": truncateRunes(discordEscape(title(&a.Article)), 256),
		"color": 0xC0392B,
		"fields": []any{
			map[string]any{"name": "Topic", "value": nonEmpty(discordEscape(topicNames(a))), "inline": true},
			map[string]any{"name": "Source", "value": nonEmpty(discordEscape(headerSafe(a.Article.Source, 60))), "inline": true},
			map[string]any{"name": "Score", "value": formatScore(a.Score), "inline": true},
		},
		"footer": map[string]any{"text": truncateRunes("newswatch · matched: "+matchSummary(allMatches(a), 8), 2048)},
	}
	if u := safeURL(a.Article.URL); u != "" {
		embed["url"] = u
	}
	if ex := excerpt(&a.Article, chatExcerpt); ex != "" {
		embed["description"] = discordEscape(ex)
	}
	if !a.Article.Published.IsZero() {
		embed["timestamp"] = a.Article.Published.UTC().Format(time.RFC3339)
	}
	return json.Marshal(map[string]any{
		"embeds": []any{embed},
		// Never let feed text ping @everyone, roles or users.
		"allowed_mentions": map[string]any{"parse": []string{}},
	})
}

func renderTeams(a *news.Alert) ([]byte, error) {
	body := []any{
		map[string]any{"type": "TextBlock", "text": title(&a.Article), "weight": "Bolder", "size": "Medium", "wrap": true},
		map[string]any{"type": "TextBlock", "text": topicNames(a) + " · " + headerSafe(a.Article.Source, 60), "isSubtle": true, "spacing": "None", "wrap": true},
	}
	if ex := excerpt(&a.Article, chatExcerpt); ex != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": ex, "wrap": true})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": []any{
		map[string]any{"title": "Score", "value": formatScore(a.Score)},
		map[string]any{"title": "Matched", "value": nonEmpty(matchSummary(allMatches(a), 8))},
	}})
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if u := safeURL(a.Article.URL); u != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Read the article", "url": u}}
	}
	return json.Marshal(map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	})
}

func formatScore(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func nonEmpty(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
