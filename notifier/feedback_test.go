package notifier

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/feedback"
	"newswatch/news"
)

// Alerts carry feedback links, in the webhook payload and in both parts
// of an email, when http.public_url is set, and none without it.
func TestFeedbackLinksOnlyWithPublicURL(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL string
		want            bool
	}{
		{"no public url", "", false},
		{"public url", "https://nw.example.org", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer := feedback.NewSigner([]byte("0123456789abcdef"), tc.publicURL)
			links := func(a *news.Alert, sub string) *news.FeedbackLinks { return signer.Links(a, sub) }
			a := sampleAlert()
			wantRel := signer.URL(a.ID, "hook", feedback.Relevant, a.Created)

			srv, got := receiver(t, nil)
			w, err := NewWebhook(config.Subscriber{ID: "hook", Type: "webhook", WebhookSink: config.WebhookSink{URL: srv.URL, Secret: "raw-secret"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			SetFeedback(w, links)
			if _, err := w.Notify(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			var body struct {
				Feedback *news.FeedbackLinks `json:"feedback"`
			}
			select {
			case c := <-got:
				if err := json.Unmarshal(c.body, &body); err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no webhook request")
			}
			if tc.want {
				if body.Feedback == nil || body.Feedback.Relevant != wantRel ||
					body.Feedback.NotRelevant != signer.URL(a.ID, "hook", feedback.NotRelevant, a.Created) {
					t.Errorf("webhook feedback = %+v, want relevant %s", body.Feedback, wantRel)
				}
			} else if body.Feedback != nil {
				t.Errorf("webhook carries links without a public url: %+v", body.Feedback)
			}
			if a.Feedback != nil {
				t.Error("the dispatcher's alert was changed")
			}

			ts := startSMTP(t, modeStartTLS, "", "")
			e := newTestEmail(t, ts, "starttls", emailSub())
			SetFeedback(e, links)
			if _, err := e.Notify(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			pm := parseMail(t, ts.received()[0].data)
			mailRel := signer.URL(a.ID, "analyst", feedback.Relevant, a.Created)
			text, html := pm.parts["text/plain"], pm.parts["text/html"]
			htmlRel := strings.ReplaceAll(mailRel, "&", "&amp;")
			if got := strings.Contains(text, mailRel) && strings.Contains(text, "Not relevant: "+tc.publicURL); got != tc.want {
				t.Errorf("text part has links: %v, want %v\n%s", got, tc.want, text)
			}
			if got := strings.Contains(html, `<a href="`+htmlRel+`">Relevant</a>`); got != tc.want {
				t.Errorf("HTML part has links: %v, want %v\n%s", got, tc.want, html)
			}
			if strings.Contains(text+html, "/feedback/") != tc.want {
				t.Errorf("feedback path present: %v, want %v", !tc.want, tc.want)
			}
		})
	}
}
