package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"newswatch/config"
	"newswatch/news"
)

// spikeAlert is a spike alert shaped as package trends builds it.
func spikeAlert(followUp int) *news.Alert {
	bucket := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	id := news.SpikeID("fentanyl", bucket, followUp)
	title := "Coverage spike: Fentanyl: 34 articles from 23 sources in 6h (usually 3)"
	return &news.Alert{
		V: 1, ID: id, Topic: "fentanyl", TopicName: "Fentanyl", Kind: news.KindSpike, Matches: []news.Match{},
		Spike: &news.Spike{
			Start: bucket.Add(-5 * time.Hour), End: bucket.Add(time.Hour), Window: "6h", Bucket: bucket, FollowUp: followUp,
			Articles: 34, Sources: 23, Baseline: news.Baseline{Days: 14, Articles: 3, ArticlesMAD: 1, Sources: 3, SourcesMAD: 1},
			TopArticles: []news.SpikeArticle{{ID: "a1", Title: "Border seizure <record>", URL: "https://example.org/a1", Source: "wire-1", Score: 9}},
			TopSources:  []news.SpikeSource{{Source: "wire-1", Articles: 4}},
		},
		Article: news.Article{V: 1, ID: id, Source: "newswatch", URL: "https://example.org/a1", Title: title,
			Summary: "- Border seizure <record> (wire-1)", Published: bucket, Fetched: bucket},
		Created: bucket.Add(10 * time.Minute),
	}
}

func TestSpikeAlertDelivery(t *testing.T) {
	t.Run("webhook", func(t *testing.T) {
		schema, doc := compileSchema(t)
		for n, want := range []string{EventSpike, EventSpikeFollowUp} {
			body := deliveredBody(t, spikeAlert(n))
			var p struct {
				Type  string
				Kind  string
				Spike *news.Spike
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != want || p.Kind != news.KindSpike || p.Spike == nil || p.Spike.Articles != 34 || p.Spike.FollowUp != n {
				t.Fatalf("payload: %s", body)
			}
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			if err := schema.Validate(inst); err != nil {
				t.Fatalf("spike payload does not match the schema: %v\n%s", err, body)
			}
			if u := undeclared(doc, inst, ""); len(u) > 0 {
				t.Fatalf("undeclared keys %v", u)
			}
		}
	})
	t.Run("slack", func(t *testing.T) {
		srv, got := receiver(t, nil)
		sub := testWebhookSub(srv.URL)
		sub.Format = "slack"
		w, _ := NewWebhook(sub, nil)
		if _, err := w.Notify(context.Background(), spikeAlert(0)); err != nil {
			t.Fatal(err)
		}
		if b := (<-got).body; !bytes.Contains(b, []byte("Coverage spike: Fentanyl: 34 articles from 23 sources")) {
			t.Fatalf("slack: %s", b)
		}
	})
	t.Run("email", func(t *testing.T) {
		ts := startSMTP(t, modePlain, "", "")
		e := newTestEmail(t, ts, "none", emailSub())
		if _, err := e.Notify(context.Background(), spikeAlert(0)); err != nil {
			t.Fatal(err)
		}
		m := parseMail(t, ts.received()[0].data)
		if s := m.subject(t); !strings.Contains(s, "Coverage spike: Fentanyl") {
			t.Errorf("Subject = %q", s)
		}
		if !strings.Contains(m.parts["text/plain"], "Border seizure <record> (wire-1)") ||
			!strings.Contains(m.parts["text/html"], "Border seizure &lt;record&gt;") {
			t.Errorf("body lacks the top articles:\n%s\n%s", m.parts["text/plain"], m.parts["text/html"])
		}
	})
}

// TestDispatchSpikeIsNoStory: a spike and its growth report have
// headlines alike, but they are spike events, never folded into a story
// follow-up ("Also reported by newswatch" in a chat message).
func TestDispatchSpikeIsNoStory(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	var mu sync.Mutex
	var types []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		types = append(types, string(body))
		mu.Unlock()
	}))
	defer srv.Close()
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer d.Close()
	d.SetTopics([]config.Topic{{ID: "fentanyl"}})
	sub := dispatchSub("desk", srv.URL, fastRetry)
	sub.Format = "slack"
	startSub(t, d, sub)
	for n := range 2 {
		a := spikeAlert(n)
		data, _ := json.Marshal(a)
		if _, err := b.JS.Publish(context.Background(), b.Names.AlertSubject("fentanyl"), data, jetstream.WithMsgID(a.ID)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(types)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(types) != 2 {
		t.Fatalf("%d deliveries, want 2", len(types))
	}
	for _, body := range types {
		if strings.Contains(body, "Also reported") || !strings.Contains(body, "Coverage spike: Fentanyl") {
			t.Errorf("delivered %s", body)
		}
	}
}
