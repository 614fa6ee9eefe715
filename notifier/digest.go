package notifier

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"

	"newswatch/news"
)

// Digest is one email summarising many alerts, grouped by topic.
type Digest struct {
	Subject string // one header-safe line
	Text    string
	HTML    string
	// AlertIDs are the alerts the digest covers, sorted: the digest's
	// identity (see DigestMessageID).
	AlertIDs []string
}

// digestData is what digest templates see.
type digestData struct {
	Count  int
	Topics []digestTopic
}

type digestTopic struct {
	ID     string
	Topic  string // display name
	Alerts []mailData
}

// RenderDigest renders alerts as one digest: topics in order of their
// best score, alerts in a topic by score then recency. An alert listed
// twice (a redelivery) appears once.
func RenderDigest(alerts []*news.Alert) (Digest, error) {
	if len(alerts) == 0 {
		return Digest{}, errors.New("digest: no alerts")
	}
	seen := map[string]bool{}
	byTopic := map[string]*digestTopic{}
	best := map[string]float64{}
	var ids []string
	for _, a := range alerts {
		if a == nil || seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		ids = append(ids, a.ID)
		t := byTopic[a.Topic]
		if t == nil {
			t = &digestTopic{ID: a.Topic, Topic: topicName(a)}
			byTopic[a.Topic] = t
		}
		t.Alerts = append(t.Alerts, newMailData(a))
		best[a.Topic] = max(best[a.Topic], a.Score)
	}
	d := digestData{Count: len(ids)}
	for _, t := range byTopic {
		slices.SortStableFunc(t.Alerts, func(x, y mailData) int {
			if c := cmp.Compare(y.Alert.Score, x.Alert.Score); c != 0 {
				return c
			}
			if c := y.Published.Compare(x.Published); c != 0 {
				return c
			}
			return strings.Compare(x.Alert.ID, y.Alert.ID)
		})
		d.Topics = append(d.Topics, *t)
	}
	slices.SortFunc(d.Topics, func(x, y digestTopic) int {
		if c := cmp.Compare(best[y.ID], best[x.ID]); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})

	tb, hb, err := executeDigest(d)
	if err != nil {
		return Digest{}, err
	}
	// Every topic the digest's articles matched, those it is grouped by
	// first.
	names := make([]string, 0, len(d.Topics))
	for _, t := range d.Topics {
		names = append(names, t.Topic)
	}
	for _, a := range alerts {
		if a == nil {
			continue
		}
		for _, t := range a.AllTopics() {
			if n := displayName(t); !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	plural := "s"
	if d.Count == 1 {
		plural = ""
	}
	slices.Sort(ids)
	return Digest{
		Subject:  headerSafe(fmt.Sprintf("[newswatch] Digest: %d alert%s, %s", d.Count, plural, strings.Join(names, ", ")), mailSubject),
		Text:     tb,
		HTML:     hb,
		AlertIDs: ids,
	}, nil
}

// executeDigest renders a digest's text and HTML bodies.
func executeDigest(d digestData) (text, html string, _ error) {
	tt, err := texttemplate.ParseFS(builtinTemplates, "templates/digest.txt.tmpl")
	if err != nil {
		return "", "", fmt.Errorf("digest text template: %w", err)
	}
	ht, err := htmltemplate.ParseFS(builtinTemplates, "templates/digest.html.tmpl")
	if err != nil {
		return "", "", fmt.Errorf("digest html template: %w", err)
	}
	var tb, hb bytes.Buffer
	if err := tt.Execute(&tb, d); err != nil {
		return "", "", fmt.Errorf("digest text template: %w", err)
	}
	if err := ht.Execute(&hb, d); err != nil {
		return "", "", fmt.Errorf("digest html template: %w", err)
	}
	return tb.String(), hb.String(), nil
}

// DigestMessageID is the Message-ID of a digest to subscriber sub: a hash
// of the alerts it covers, so re-sending the same digest after a crash is
// recognisably the same message.
func DigestMessageID(sub string, d Digest) string {
	return "digest-" + deliveryKey(sub, strings.Join(d.AlertIDs, "\n")) + "@newswatch"
}

// NotifyDigest sends alerts as one digest email. Like Notify, it reports
// whether a failure is worth retrying; the caller keeps the alerts until
// it succeeds.
func (e *Email) NotifyDigest(ctx context.Context, alerts []*news.Alert) (bool, error) {
	if e.links != nil {
		linked := make([]*news.Alert, len(alerts))
		for i, a := range alerts {
			linked[i] = withLinks(e.links, a, e.sub)
		}
		alerts = linked
	}
	d, err := RenderDigest(alerts)
	if err != nil {
		return false, fmt.Errorf("email %s: %w", e.sub, err)
	}
	m, err := e.newMsg(d.Subject, DigestMessageID(e.sub, d), d.Text, d.HTML)
	if err != nil {
		return false, fmt.Errorf("email %s: %w", e.sub, err)
	}
	retry, err := e.send(ctx, m)
	if err != nil {
		return retry, fmt.Errorf("email %s: digest of %d alerts: %w", e.sub, len(d.AlertIDs), err)
	}
	return false, nil
}
