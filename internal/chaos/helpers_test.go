package chaos

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
	"newswatch/news"
	"newswatch/notifier"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// kinds of generated items: one per default topic, and one that matches
// neither.
var kinds = []struct {
	topic       string
	title, body string
}{
	{"fentanyl", "Border agents seize fentanyl pills in raid %d", "Officers found counterfeit tablets laced with fentanyl during operation %d."},
	{"us-china", "Beijing and Washington hold trade talks, round %d", "Negotiators from China and the United States met for session %d."},
	{"", "Local bakery wins regional award %d", "The shop's sourdough impressed the judges at contest %d."},
}

// genItem is item n of a run: its kind is drawn from rng, so that the
// mix varies per seed; prefix keeps item ids apart between runs.
func genItem(rng *rand.Rand, prefix string, n int) (harness.Item, string) {
	k := kinds[rng.IntN(len(kinds))]
	return harness.Item{
		GUID:  fmt.Sprintf("%s-%d", prefix, n),
		Title: fmt.Sprintf(k.title, n),
		Body:  fmt.Sprintf(k.body, n),
	}, k.topic
}

// expectation is which alert ids each subscriber must receive.
type expectation map[string]map[string]bool // subscriber → alert id → true

func (e expectation) add(sub string, alertID string) {
	if e[sub] == nil {
		e[sub] = map[string]bool{}
	}
	e[sub][alertID] = true
}

// expect records the alert of an item of topic for every subscriber
// whose topic list includes it (nil: all topics).
func (e expectation) expect(it harness.Item, topic string, subs map[string][]string) {
	if topic == "" {
		return
	}
	id := news.AlertID(topic, it.ArticleID())
	for sub, topics := range subs {
		if topics == nil || contains(topics, topic) {
			e.add(sub, id)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// webhookDelivered converts a receiver's deliveries, and checks that each
// carries the webhook-id derived from the subscriber and alert.
func webhookDelivered(t *testing.T, sub string, ds []harness.Delivery) []harness.Delivered {
	t.Helper()
	for _, d := range ds {
		if want := notifier.WebhookID(sub, d.AlertID); d.WebhookID != want {
			t.Errorf("%s: alert %s came with webhook-id %q, want %q", sub, d.AlertID, d.WebhookID, want)
		}
	}
	return harness.FromWebhook(ds)
}

// emailDelivered maps each accepted email to its alert by Message-ID.
// Emails with an unknown Message-ID are reported as unexpected alerts.
func emailDelivered(t *testing.T, sub string, expected map[string]bool, msgs []smtptest.Message) []harness.Delivered {
	t.Helper()
	byMID := map[string]string{}
	for id := range expected {
		byMID[notifier.MessageID(sub, id)] = id
	}
	out := make([]harness.Delivered, 0, len(msgs))
	for _, m := range msgs {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Errorf("%s: unreadable email: %v", sub, err)
			continue
		}
		mid := strings.Trim(msg.Header.Get("Message-Id"), "<> ")
		alert, ok := byMID[mid]
		if !ok {
			alert = "unknown-message-id:" + mid
		}
		out = append(out, harness.Delivered{AlertID: alert, DeliveryID: mid, Verified: true})
	}
	return out
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger writes errors to the test log; everything with
// NEWSWATCH_TEST_LOG=debug.
func testLogger(t *testing.T, name string) *slog.Logger {
	level := slog.LevelError
	if os.Getenv("NEWSWATCH_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: level})).With("replica", name)
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = tlogWriter{}

// tail returns the last n bytes of a file, for failure messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}
