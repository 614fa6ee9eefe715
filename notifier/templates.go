package notifier

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"newswatch/config"
	"newswatch/news"
)

//go:embed templates/*.tmpl
var builtinTemplates embed.FS

// Lengths for email: the excerpt gives enough to judge the article, the
// subject stays readable in a mail client's list.
const (
	mailExcerpt = 1200
	mailSubject = 200
)

// mailTemplates renders alert emails: a subject line and the text and
// HTML bodies of a multipart/alternative message. Feed content is
// untrusted: html/template escapes it by context (text, attribute, URL).
type mailTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// loadTemplates parses the built-in templates, replacing each with the
// file named in cfg when set. Templates fail on unknown fields
// (missingkey=error) so that a typo shows at start-up, not in an email.
func loadTemplates(cfg config.Templates) (*mailTemplates, error) {
	read := func(file, builtin string) (string, string, error) {
		if file == "" {
			b, err := builtinTemplates.ReadFile("templates/" + builtin)
			return "builtin " + builtin, string(b), err
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return file, "", fmt.Errorf("read template: %w", err)
		}
		return file, string(b), nil
	}
	var t mailTemplates
	name, src, err := read(cfg.Subject, "subject.tmpl")
	if err == nil {
		t.subject, err = texttemplate.New(name).Option("missingkey=error").Parse(src)
	}
	if err != nil {
		return nil, fmt.Errorf("subject template %s: %w", name, err)
	}
	name, src, err = read(cfg.Text, "text.tmpl")
	if err == nil {
		t.text, err = texttemplate.New(name).Option("missingkey=error").Parse(src)
	}
	if err != nil {
		return nil, fmt.Errorf("text template %s: %w", name, err)
	}
	name, src, err = read(cfg.HTML, "html.tmpl")
	if err == nil {
		t.html, err = htmltemplate.New(name).Option("missingkey=error").Parse(src)
	}
	if err != nil {
		return nil, fmt.Errorf("html template %s: %w", name, err)
	}
	// Render a sample now: a template that parses but fails on real data
	// (a misspelt field) must fail at start-up.
	d := newMailData(sampleForCheck())
	if _, _, _, err := t.render(d); err != nil {
		return nil, err
	}
	d.Feedback = &news.FeedbackLinks{Relevant: "https://example.org/feedback/?l=relevant", NotRelevant: "https://example.org/feedback/?l=not_relevant"}
	if _, _, _, err := t.render(d); err != nil {
		return nil, err
	}
	d.Story = &Story{ID: d.Alert.ID, Started: d.Published, Count: 2, Sources: []string{"a", "b"}}
	if _, _, _, err := t.render(d); err != nil {
		return nil, err
	}
	one := sampleForCheck()
	one.Topics = nil
	if _, _, _, err := t.render(newMailData(one)); err != nil {
		return nil, err
	}
	return &t, nil
}

// render executes the three templates. The subject is made a single safe
// header line whatever the template produced.
func (t *mailTemplates) render(d mailData) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err = t.subject.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("subject template: %w", err)
	}
	subject = headerSafe(b.String(), mailSubject)
	b.Reset()
	if err = t.text.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("text template: %w", err)
	}
	text = b.String()
	b.Reset()
	if err = t.html.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("html template: %w", err)
	}
	return subject, text, b.String(), nil
}

// mailData is what email templates see. Every string is plain text
// taken from the feed: the HTML template escapes it, the text template
// prints it as is. docs/delivery.md documents these fields.
type mailData struct {
	Alert *news.Alert // the whole alert, for anything not below
	Topic string      // display name of the alert's own (first) topic
	// Topics are every topic of the subscriber's the article matched, in
	// order, the alert's own first; TopicNames joins their names.
	Topics     []mailTopic
	TopicNames string
	Title      string    // article title on one line, never empty
	URL        string    // article link if http(s), else empty
	Source     string    // source id
	Score      string    // formatted score
	Published  time.Time // zero when the feed gave none
	Excerpt    string    // start of the summary (or content), one paragraph
	Matches    []mailMatch
	Story      *Story // set when this is a later report of a story
	// Feedback holds the signed "relevant" / "not relevant" links; nil
	// when http.public_url is unset.
	Feedback *news.FeedbackLinks
}

// mailTopic is one topic the article matched, with its matches.
type mailTopic struct {
	ID, Name, Score string
	Matches         []mailMatch
}

// mailMatch is one matched term with its snippet cut at the « » marks.
type mailMatch struct {
	Term, Field string
	Count       int
	Snippet     []segment // the hit has Hit set
	SnippetText string    // the snippet with the marks removed
}

// segment is a piece of a snippet; Hit marks the matched term.
type segment struct {
	Text string
	Hit  bool
}

func newMailData(a *news.Alert) mailData {
	d := mailData{
		Alert:     a,
		Topic:     topicName(a),
		Title:     title(&a.Article),
		URL:       safeURL(a.Article.URL),
		Source:    headerSafe(a.Article.Source, 100),
		Score:     formatScore(a.Score),
		Published: a.Article.Published,
		Excerpt:   excerpt(&a.Article, mailExcerpt),
		Feedback:  a.Feedback,
	}
	d.Matches = newMailMatches(a.Matches)
	d.TopicNames = topicNames(a)
	for _, t := range a.AllTopics() {
		d.Topics = append(d.Topics, mailTopic{ID: headerSafe(t.ID, 100), Name: displayName(t),
			Score: formatScore(t.Score), Matches: newMailMatches(t.Matches)})
	}
	return d
}

func newMailMatches(ms []news.Match) []mailMatch {
	var out []mailMatch
	for _, m := range ms {
		segs := splitSnippet(headerSafe(m.Snippet, 400))
		var plain strings.Builder
		for _, s := range segs {
			plain.WriteString(s.Text)
		}
		out = append(out, mailMatch{
			Term:        headerSafe(m.Term, 100),
			Field:       headerSafe(m.Field, 30),
			Count:       m.Count,
			Snippet:     segs,
			SnippetText: plain.String(),
		})
	}
	return out
}

// splitSnippet cuts "before «hit» after" into segments; unbalanced marks
// are kept as text.
func splitSnippet(s string) []segment {
	var out []segment
	for s != "" {
		before, rest, ok := strings.Cut(s, "«")
		if !ok {
			break
		}
		hit, after, ok := strings.Cut(rest, "»")
		if !ok {
			break
		}
		if before != "" {
			out = append(out, segment{Text: before})
		}
		out = append(out, segment{Text: hit, Hit: true})
		s = after
	}
	if s != "" {
		out = append(out, segment{Text: s})
	}
	return out
}

// sampleForCheck is a complete alert to try templates on at start-up.
func sampleForCheck() *news.Alert {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &news.Alert{
		V: news.Version, ID: "topic:0123456789abcdef", Topic: "topic", TopicName: "Topic",
		Score:   1,
		Matches: []news.Match{{Term: "term", Field: "title", Count: 2, Snippet: "a «term» here"}},
		// Two topics, so that templates are tried on the multi-topic
		// layout too.
		Topics: []news.AlertTopic{
			{ID: "topic", Name: "Topic", Score: 1, Matches: []news.Match{{Term: "term", Field: "title", Count: 2, Snippet: "a «term» here"}}},
			{ID: "other", Name: "Other", Score: 2, Matches: []news.Match{{Term: "here", Field: "summary", Count: 1, Snippet: "a term «here»"}}},
		},
		Article: news.Article{
			V: news.Version, ID: "0123456789abcdef", Source: "source", URL: "https://example.org/a",
			Title: "Title", Summary: "Summary.", Published: t, Fetched: t,
		},
		Created: t,
	}
}
