package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"newswatch/news"
)

// Headlines of one story as several outlets wrote them, and headlines of
// other stories on the same topics (hard negatives: same names, same
// vocabulary).
var (
	sameStory = [][2]string{
		{"US and China agree to curb fentanyl flows", "China, US agree to curb fentanyl flow"},
		{"US and China agree to curb fentanyl flows", "U.S. and China agree to curb flow of fentanyl"},
		{"Biden and Xi agree to resume military talks, curb fentanyl", "Biden, Xi agree to resume military communications and curb fentanyl"},
		{"Treasury sanctions Chinese suppliers of fentanyl precursors", "Treasury sanctions Chinese suppliers of fentanyl precursor chemicals"},
		{"Record fentanyl seizure at Arizona border crossing", "Record fentanyl seizure at Arizona border crossing, officials say"},
		{"China announces new tariffs on US goods", "China announces new tariffs on U.S. goods in retaliation"},
		{"中美同意加强芬太尼管控合作", "中美同意加强芬太尼管控"},
	}
	otherStory = [][2]string{
		{"US and China agree to curb fentanyl flows", "Fentanyl overdoses fall for the first time in years"},
		{"US and China agree to curb fentanyl flows", "US and China trade talks stall over chip exports"},
		{"Treasury sanctions Chinese suppliers of fentanyl precursors", "Mexican cartel leader extradited to the United States"},
		{"Record fentanyl seizure at Arizona border crossing", "China announces new tariffs on US goods"},
		{"Biden and Xi agree to resume military talks, curb fentanyl", "Record fentanyl seizure at Arizona border crossing"},
		{"China announces new tariffs on US goods", "US adds Chinese chipmakers to export blacklist"},
		{"中美同意加强芬太尼管控合作", "中国宣布对美国商品加征关税"},
	}
)

func dist(a, b string) int { return bits.OnesCount64(SimHash(a) ^ SimHash(b)) }

func TestStoriesSeparation(t *testing.T) {
	maxSame, minOther := 0, 64
	for _, p := range sameStory {
		d := dist(p[0], p[1])
		t.Logf("same  %2d  %q / %q", d, p[0], p[1])
		maxSame = max(maxSame, d)
		if d > storyMaxDistance {
			t.Errorf("same story not joined (distance %d): %q / %q", d, p[0], p[1])
		}
	}
	for _, p := range otherStory {
		d := dist(p[0], p[1])
		t.Logf("other %2d  %q / %q", d, p[0], p[1])
		minOther = min(minOther, d)
		if d <= storyMaxDistance {
			t.Errorf("different stories joined (distance %d): %q / %q", d, p[0], p[1])
		}
	}
	t.Logf("max same-story distance %d, min other-story distance %d, threshold %d", maxSame, minOther, storyMaxDistance)
}

func storyAlert(id, source, title string) *news.Alert {
	return &news.Alert{ID: "fentanyl:" + id, Topic: "fentanyl", Article: news.Article{ID: id, Source: source, Title: title}}
}

func TestStoriesAdd(t *testing.T) {
	s := NewStories(time.Hour)
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

	st, first := s.Add("analyst/fentanyl", storyAlert("a1", "reuters", "US and China agree to curb fentanyl flows"), t0)
	if !first || st.ID != "fentanyl:a1" || st.Count != 1 {
		t.Fatalf("first report: %+v, %v", st, first)
	}
	st, first = s.Add("analyst/fentanyl", storyAlert("a2", "ap", "China, US agree to curb fentanyl flow"), t0.Add(10*time.Minute))
	if first || st.ID != "fentanyl:a1" || st.Count != 2 || len(st.Sources) != 2 || st.Sources[1] != "ap" {
		t.Fatalf("second outlet: %+v, %v", st, first)
	}
	// An unrelated story starts its own.
	if st, first = s.Add("analyst/fentanyl", storyAlert("b1", "ap", "Fentanyl overdoses fall for the first time in years"), t0.Add(11*time.Minute)); !first || st.ID != "fentanyl:b1" {
		t.Fatalf("other story: %+v, %v", st, first)
	}
	// Redeliveries answer as the first time.
	if st, first = s.Add("analyst/fentanyl", storyAlert("a1", "reuters", "US and China agree to curb fentanyl flows"), t0.Add(12*time.Minute)); !first || st.ID != "fentanyl:a1" {
		t.Fatalf("redelivered first alert: %+v, %v", st, first)
	}
	if st, first = s.Add("analyst/fentanyl", storyAlert("a2", "ap", "China, US agree to curb fentanyl flow"), t0.Add(13*time.Minute)); first || st.ID != "fentanyl:a1" || st.Count != 2 {
		t.Fatalf("redelivered follow-up: %+v, %v", st, first)
	}
	// Keys are separate: another subscriber gets its own first alert.
	if _, first = s.Add("desk/fentanyl", storyAlert("a2", "ap", "China, US agree to curb fentanyl flow"), t0.Add(14*time.Minute)); !first {
		t.Fatal("story shared across keys")
	}
	// The window runs from the latest report: after it, the story is new again.
	if _, first = s.Add("analyst/fentanyl", storyAlert("a3", "bbc", "U.S. and China agree to curb flow of fentanyl"), t0.Add(10*time.Minute+59*time.Minute)); first {
		t.Fatal("report within the window of the latest one started a new story")
	}
	if _, first = s.Add("analyst/fentanyl", storyAlert("a4", "npr", "US and China agree to curb fentanyl flows"), t0.Add(4*time.Hour)); !first {
		t.Fatal("report after the window joined a closed story")
	}
	// Titles without words never join anything.
	if _, first = s.Add("analyst/fentanyl", storyAlert("e1", "x", "—"), t0.Add(4*time.Hour)); !first {
		t.Fatal("empty title joined a story")
	}
	if _, first = s.Add("analyst/fentanyl", storyAlert("e2", "y", "…"), t0.Add(4*time.Hour)); !first {
		t.Fatal("two empty titles joined")
	}
}

func TestFollowUpDelivery(t *testing.T) {
	first := sampleAlert()
	later := sampleAlert()
	later.ID, later.Article.ID, later.Article.Source = "fentanyl:later", "later", "wire-service"
	later.Article.Title = "China, US agree to curb fentanyl flow"
	st := Story{ID: first.ID, Started: first.Created, Count: 2, Sources: []string{"example-feed", "wire-service"}}

	var _ FollowUpSink = (*Webhook)(nil)
	var _ FollowUpSink = (*Email)(nil)

	t.Run("webhook", func(t *testing.T) {
		srv, got := receiver(t, nil)
		w, err := NewWebhook(testWebhookSub(srv.URL), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.NotifyFollowUp(context.Background(), later, st); err != nil {
			t.Fatal(err)
		}
		c := <-got
		var p struct {
			Type  string
			ID    string
			Story *struct {
				ID      string
				Count   int
				Sources []string
			}
		}
		if err := json.Unmarshal(c.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != EventFollowUp || p.ID != later.ID || p.Story == nil || p.Story.ID != first.ID || p.Story.Count != 2 || len(p.Story.Sources) != 2 {
			t.Fatalf("follow-up payload: %s", c.body)
		}
		if c.header.Get("webhook-id") != WebhookID("desk", later.ID) {
			t.Error("follow-up webhook-id is not the later alert's")
		}
		schema, doc := compileSchema(t)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(c.body))
		if err := schema.Validate(inst); err != nil {
			t.Fatalf("follow-up does not match the schema: %v", err)
		}
		if u := undeclared(doc, inst, ""); len(u) > 0 {
			t.Fatalf("undeclared keys %v", u)
		}
		// A plain alert carries no story.
		if _, err := w.Notify(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		if b := (<-got).body; bytes.Contains(b, []byte(`"story"`)) || !bytes.Contains(b, []byte(`"type":"alert.created"`)) {
			t.Fatalf("plain alert: %s", b)
		}
	})
	t.Run("slack", func(t *testing.T) {
		srv, got := receiver(t, nil)
		sub := testWebhookSub(srv.URL)
		sub.Format = "slack"
		w, _ := NewWebhook(sub, nil)
		if _, err := w.NotifyFollowUp(context.Background(), later, st); err != nil {
			t.Fatal(err)
		}
		if b := (<-got).body; !bytes.Contains(b, []byte("Also reported by wire-service: China, US agree")) {
			t.Fatalf("slack follow-up: %s", b)
		}
	})
	t.Run("email", func(t *testing.T) {
		ts := startSMTP(t, modePlain, "", "")
		e := newTestEmail(t, ts, "none", emailSub())
		if _, err := e.Notify(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		if _, err := e.NotifyFollowUp(context.Background(), later, st); err != nil {
			t.Fatal(err)
		}
		msgs := ts.received()
		one, two := parseMail(t, msgs[0].data), parseMail(t, msgs[1].data)
		root := one.header.Get("Message-Id")
		if two.header.Get("In-Reply-To") != root || two.header.Get("References") != root {
			t.Errorf("follow-up not threaded: In-Reply-To %q References %q, first %q",
				two.header.Get("In-Reply-To"), two.header.Get("References"), root)
		}
		if one.header.Get("References") != "" {
			t.Error("first alert has References")
		}
		if two.header.Get("Message-Id") == root {
			t.Error("follow-up reuses the first Message-ID")
		}
		if s := two.subject(t); !strings.HasPrefix(s, "Re: [newswatch] ") {
			t.Errorf("Subject = %q", s)
		}
		if !strings.Contains(two.parts["text/plain"], "Also reported: 2 reports") || !strings.Contains(two.parts["text/html"], "example-feed, wire-service") {
			t.Errorf("follow-up body lacks the story:\n%s", two.parts["text/plain"])
		}
		if strings.Contains(one.parts["text/plain"], "Also reported") {
			t.Error("first alert says also reported")
		}
	})
}
