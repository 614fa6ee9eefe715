package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/smtptest"
	"newswatch/news"
)

func sampleEvent() *news.Event {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &news.Event{
		V: 1, ID: "source.failing:bbc:0", Event: "source.failing", At: at, Source: "bbc", Failures: 3,
		Since: at.Add(-time.Hour), Detail: "status 500 Internal Server Error",
		Summary: "source bbc failing: 3 failed fetches in a row: status 500 <!channel> *x*",
	}
}

// An event goes out in the subscriber's webhook format: the versioned
// newswatch event payload, or a one-line chat message.
func TestEventWebhookPayloads(t *testing.T) {
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, body map[string]any)
	}{
		{"", func(t *testing.T, m map[string]any) {
			if m["type"] != "event.source.failing" || m["v"] != 1.0 || m["event"] != "source.failing" || m["source"] != "bbc" ||
				m["failures"] != 3.0 || m["at"] != "2026-03-01T12:00:00Z" || m["timestamp"] != "2026-03-01T12:00:00Z" ||
				m["id"] != "source.failing:bbc:0" || !strings.HasPrefix(m["summary"].(string), "source bbc failing") {
				t.Errorf("body %v", m)
			}
			if _, ok := m["article"]; ok {
				t.Error("an event body carries an article")
			}
		}},
		{"slack", func(t *testing.T, m map[string]any) {
			if s, _ := m["text"].(string); !strings.HasPrefix(s, "newswatch: source bbc failing") || strings.Contains(s, "<!channel>") {
				t.Errorf("slack text %q", s)
			}
		}},
		{"discord", func(t *testing.T, m map[string]any) {
			if s, _ := m["content"].(string); !strings.Contains(s, `\*x\*`) || m["allowed_mentions"] == nil {
				t.Errorf("discord body %v", m)
			}
		}},
		{"teams", func(t *testing.T, m map[string]any) {
			if m["type"] != "message" || !strings.Contains(mustJSON(t, m), "source bbc failing") {
				t.Errorf("teams body %v", m)
			}
		}},
	} {
		t.Run("format "+tc.format, func(t *testing.T) {
			srv, got := receiver(t, nil)
			sub := testWebhookSub(srv.URL)
			sub.Format = tc.format
			w, err := NewWebhook(sub, nil)
			if err != nil {
				t.Fatal(err)
			}
			a := news.EventAlert(sampleEvent())
			if retry, err := w.Notify(context.Background(), a); err != nil || retry {
				t.Fatalf("Notify = %v, %v", retry, err)
			}
			c := <-got
			if id := c.header.Get("Webhook-Id"); id != WebhookID("desk", "event:source.failing:bbc:0") {
				t.Errorf("webhook-id %q", id)
			}
			var m map[string]any
			if err := json.Unmarshal(c.body, &m); err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An event email is plain text, with the summary in the subject.
func TestEventEmail(t *testing.T) {
	srv := smtptest.Start(t)
	sub := config.Subscriber{ID: "ops", Type: "email", EmailSink: config.EmailSink{To: []string{"ops@example.org"}}}
	e, err := NewEmail(sub, config.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", From: "newswatch@example.org", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ev := sampleEvent()
	ev.Summary = "source bbc failing: 3 failed fetches in a row\r\nBcc: evil@example.org"
	if retry, err := e.Notify(context.Background(), news.EventAlert(ev)); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	msgs := srv.Wait(1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m, err := netmail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if !strings.HasPrefix(subject, "[newswatch] source bbc failing: 3 failed fetches in a row") || m.Header.Get("Bcc") != "" {
		t.Errorf("subject %q, bcc %q", subject, m.Header.Get("Bcc"))
	}
	if mt, _, _ := mime.ParseMediaType(m.Header.Get("Content-Type")); mt != "text/plain" {
		t.Errorf("content type %q, want text/plain", mt)
	}
	if m.Header.Get("X-Newswatch-Event") != "source.failing" || m.Header.Get("Message-Id") != "<"+MessageID("ops", "event:source.failing:bbc:0")+">" {
		t.Errorf("headers %v", m.Header)
	}
	body, _ := io.ReadAll(m.Body)
	for _, want := range []string{"Source:", "bbc", "Failures:", "status 500", "newswatch event source.failing:bbc:0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}
