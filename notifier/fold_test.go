package notifier

import (
	"fmt"
	"strings"
	"testing"

	"newswatch/config"
	"newswatch/news"
)

func twoTopicAlert(own string) *news.Alert {
	a := sampleAlert()
	a.Topics = []news.AlertTopic{
		{ID: "fentanyl", Name: "Fentanyl and synthetic opioids", Score: 4.5, Matches: a.Matches},
		{ID: "us-china", Name: "US–China relations", Score: 3, Matches: []news.Match{{Term: "US and China", Field: "title", Count: 1, Snippet: "«US and China» agree"}}},
	}
	if own == "us-china" {
		a.Topic, a.TopicName, a.Score, a.Matches = "us-china", "US–China relations", 3, a.Topics[1].Matches
		a.ID = news.AlertID("us-china", a.Article.ID)
	}
	return a
}

func TestFold(t *testing.T) {
	for _, tc := range []struct {
		name    string
		topics  []string // the subscriber's
		own     string   // the alert's
		deliver bool
		mine    string
	}{
		{"both, first topic's alert", []string{"fentanyl", "us-china"}, "fentanyl", true, "[fentanyl us-china]"},
		{"both, second topic's alert", []string{"fentanyl", "us-china"}, "us-china", false, "[fentanyl us-china]"},
		{"both in another order", []string{"us-china", "fentanyl"}, "us-china", false, "[fentanyl us-china]"},
		{"every topic", nil, "fentanyl", true, "[fentanyl us-china]"},
		{"every topic, second", nil, "us-china", false, "[fentanyl us-china]"},
		{"one topic", []string{"us-china"}, "us-china", true, "[us-china]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mine, deliver := Fold(config.Subscriber{ID: "s", Topics: tc.topics}, twoTopicAlert(tc.own))
			var ids []string
			for _, m := range mine {
				ids = append(ids, m.ID)
			}
			if deliver != tc.deliver || fmt.Sprint(ids) != tc.mine {
				t.Errorf("Fold = %v, %v; want %s, %v", ids, deliver, tc.mine, tc.deliver)
			}
		})
	}
	// An alert from before alerts carried topics is delivered as itself.
	old := sampleAlert()
	if mine, deliver := Fold(config.Subscriber{ID: "s"}, old); !deliver || len(mine) != 1 || mine[0].ID != "fentanyl" {
		t.Errorf("alert without topics: %v, %v", mine, deliver)
	}
}

func TestEmailAndDigestNameEveryTopic(t *testing.T) {
	tm, err := loadTemplates(config.Templates{})
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := tm.render(newMailData(twoTopicAlert("fentanyl")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[newswatch] Fentanyl and synthetic opioids, US–China relations: US and China agree on fentanyl precursor controls"; subject != want {
		t.Errorf("subject = %q, want %q", subject, want)
	}
	for part, body := range map[string]string{"text": text, "html": html} {
		for _, want := range []string{"Why it matched Fentanyl and synthetic opioids", "Why it matched US–China relations", "US and China", "score 3"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
	}
	// One topic: the layout is unchanged.
	subject, text, _, err = tm.render(newMailData(sampleAlert()))
	if err != nil {
		t.Fatal(err)
	}
	if subject != "[newswatch] Fentanyl and synthetic opioids: US and China agree on fentanyl precursor controls" ||
		!strings.Contains(text, "Topic:  Fentanyl and synthetic opioids (score 4.5)\n") || !strings.Contains(text, "Why it matched:\n") {
		t.Errorf("one-topic email changed: %q\n%s", subject, text)
	}

	other := sampleAlert()
	other.ID, other.Article.ID, other.Article.Title = "fentanyl:other", "other", "Another story"
	dg, err := RenderDigest([]*news.Alert{twoTopicAlert("fentanyl"), other})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(dg.Text, "US and China agree on fentanyl precursor controls") != 1 ||
		!strings.Contains(dg.Text, "topics: Fentanyl and synthetic opioids, US–China relations") ||
		!strings.Contains(dg.HTML, "topics: Fentanyl and synthetic opioids, US–China relations") {
		t.Errorf("digest does not list the article once with both topics:\n%s", dg.Text)
	}
	if want := "[newswatch] Digest: 2 alerts, Fentanyl and synthetic opioids, US–China relations"; dg.Subject != want {
		t.Errorf("digest subject = %q, want %q", dg.Subject, want)
	}
}
