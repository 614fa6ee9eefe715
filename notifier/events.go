package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

// Operational events reach subscribers that ask for them (config key
// events) through the same consumer, retries and dead letters as alerts.
// They are never folded, held for a digest or quiet hours, or tracked as
// stories: each is sent at once, on its own.

// eventSubjects are the subjects of the event kinds a subscriber asked
// for; source.failing brings source.recovered.
func eventSubjects(n bus.Names, kinds []string) []string {
	var out []string
	for _, k := range kinds {
		out = append(out, n.EventSubject(k))
		if k == "source.failing" {
			out = append(out, n.EventSubject("source.recovered"))
		}
	}
	return out
}

// decodeMsg reads a message of a subscriber's consumer: an alert, or an
// operational event wrapped as one (see news.EventAlert).
func (d *Dispatcher) decodeMsg(subject string, data []byte) (news.Alert, error) {
	if strings.HasPrefix(subject, d.b.Names.EventSubject("")) {
		var ev news.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return news.Alert{}, err
		}
		return *news.EventAlert(&ev), nil
	}
	var a news.Alert
	err := json.Unmarshal(data, &a)
	return a, err
}

// SetEvents makes the dispatcher raise a deadletter event for every
// alert it dead-letters.
func (d *Dispatcher) SetEvents(e *bus.Events) {
	d.mu.Lock()
	d.events = e
	d.mu.Unlock()
}

// deadLetterEvent raises the event of an alert dead-lettered for sub. A
// dead-lettered event raises none: two broken subscribers would
// otherwise feed each other events for ever.
func (d *Dispatcher) deadLetterEvent(sub string, alert *news.Alert, seq uint64, reason string) {
	d.mu.Lock()
	e := d.events
	d.mu.Unlock()
	if e == nil || alert.Event != nil {
		return
	}
	e.Emit(news.Event{
		ID:         fmt.Sprintf("deadletter:%s:%s:%d", sub, alert.ID, seq),
		Event:      "deadletter",
		At:         d.now().UTC(),
		Subscriber: sub,
		Alert:      alert.ID,
		Detail:     reason,
		Summary:    fmt.Sprintf("delivery to %s dead-lettered: alert %s: %s", sub, alert.ID, reason),
	})
}

// skipEvent reports whether the subscriber is not sent an event it asked
// for: the dead letter of its own delivery (the delivery path that just
// failed is the one it would take).
func skipEvent(sub config.Subscriber, ev *news.Event) bool {
	return ev.Event == "deadletter" && ev.Subscriber == sub.ID
}

// eventPayload is the newswatch-format webhook body of an event: the
// event's fields, with "type" ("event.<kind>") and "timestamp" on top.
// docs/webhooks.md describes each type.
type eventPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	news.Event
}

// renderEvent is the webhook body of an event in a config format.
func renderEvent(format string, ev *news.Event) ([]byte, error) {
	line := eventLine(ev)
	switch format {
	case "slack":
		return json.Marshal(map[string]any{"text": slackEscape(line), "unfurl_links": false, "unfurl_media": false})
	case "discord":
		return json.Marshal(map[string]any{"content": truncateRunes(discordEscape(line), 2000),
			"allowed_mentions": map[string]any{"parse": []string{}}})
	case "teams":
		return json.Marshal(map[string]any{
			"type": "message",
			"attachments": []any{map[string]any{
				"contentType": "application/vnd.microsoft.card.adaptive",
				"contentUrl":  nil,
				"content": map[string]any{
					"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
					"type":    "AdaptiveCard",
					"version": "1.4",
					"body":    []any{map[string]any{"type": "TextBlock", "text": line, "wrap": true}},
				},
			}},
		})
	}
	p := eventPayload{Type: news.EventType(ev.Event), Timestamp: ev.At, Event: *ev}
	if p.V == 0 {
		p.V = news.Version
	}
	return json.Marshal(p)
}

// eventLine is an event's summary on one line for chat tools and mail
// subjects: "newswatch: source bbc failing: …".
func eventLine(ev *news.Event) string {
	s := ev.Summary
	if s == "" {
		s = ev.Event
	}
	return headerSafe("newswatch: "+s, mailSubject)
}

// eventText is the plain-text email of an event.
func eventText(ev *news.Event) string {
	var b strings.Builder
	b.WriteString(headerSafe(ev.Summary, 0) + "\n\n")
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-13s %s\n", name+":", headerSafe(v, 0))
		}
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 MST")
	}
	field("Event", ev.Event)
	field("At", when(ev.At))
	field("Source", ev.Source)
	if ev.Failures > 0 {
		field("Failures", fmt.Sprint(ev.Failures))
	}
	field("Since", when(ev.Since))
	field("Last success", when(ev.LastSuccess))
	field("Subscriber", ev.Subscriber)
	field("Alert", ev.Alert)
	field("Next", when(ev.Next))
	field("Host", ev.Host)
	field("Detail", ev.Detail)
	fmt.Fprintf(&b, "\n-- \nnewswatch event %s\n", ev.ID)
	return b.String()
}

// notifyEvent sends an event as a plain-text email.
func (e *Email) notifyEvent(ctx context.Context, a *news.Alert) (bool, error) {
	ev := a.Event
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(e.from); err != nil {
		return false, fmt.Errorf("email %s: from: %w", e.sub, err)
	}
	if err := m.To(e.to...); err != nil {
		return false, fmt.Errorf("email %s: to: %w", e.sub, err)
	}
	m.Subject(headerSafe("[newswatch] "+ev.Summary, mailSubject))
	m.SetMessageIDWithValue(MessageID(e.sub, a.ID))
	m.SetDate()
	m.SetUserAgent("newswatch")
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetGenHeader("X-Newswatch-Event", headerSafe(ev.Event, 50))
	m.SetBodyString(mail.TypeTextPlain, eventText(ev))
	retry, err := e.send(ctx, m)
	if err != nil {
		return retry, fmt.Errorf("email %s: event %s: %w", e.sub, ev.ID, err)
	}
	return false, nil
}
