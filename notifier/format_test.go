package notifier

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestChatPresets(t *testing.T) {
	hostile := sampleAlert()
	hostile.Article.Title = "<!channel> @everyone [click](https://evil.example) <https://evil.example|here> & *bold*"
	hostile.Article.Summary = "<@U123> <!here> summary"
	hostile.Article.URL = "javascript:alert(1)"

	for _, format := range []string{"slack", "discord", "teams"} {
		t.Run(format, func(t *testing.T) {
			srv, got := receiver(t, nil)
			sub := testWebhookSub(srv.URL)
			sub.Format = format
			w, err := NewWebhook(sub, nil)
			if err != nil {
				t.Fatal(err)
			}

			// A normal alert: the title, topic and link are there.
			a := sampleAlert()
			if _, err := w.Notify(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			c := <-got
			if c.header.Get("webhook-signature") == "" {
				t.Error("preset requests are not signed")
			}
			var body map[string]any
			if err := json.Unmarshal(c.body, &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			s := string(c.body)
			link := "https://news.example.org/world/china-fentanyl?id=7\\u0026ref=rss"
			if format == "slack" {
				link = "\\u003chttps://news.example.org/world/china-fentanyl?id=7\\u0026amp;ref=rss|" // mrkdwn escapes & in URLs too
			}
			for _, want := range []string{"US and China agree on fentanyl precursor controls", "Fentanyl and synthetic opioids", link} {
				if !strings.Contains(s, want) {
					t.Errorf("body lacks %q:\n%s", want, s)
				}
			}
			switch format {
			case "slack":
				if _, ok := body["text"].(string); !ok {
					t.Error("slack: no text fallback")
				}
				if bl, _ := body["blocks"].([]any); len(bl) < 2 {
					t.Errorf("slack: blocks = %v", body["blocks"])
				}
			case "discord":
				em, _ := body["embeds"].([]any)
				if len(em) != 1 {
					t.Fatalf("discord: embeds = %v", body["embeds"])
				}
				if u := em[0].(map[string]any)["url"]; u != a.Article.URL {
					t.Errorf("discord: url = %v", u)
				}
			case "teams":
				at, _ := body["attachments"].([]any)
				if body["type"] != "message" || len(at) != 1 || at[0].(map[string]any)["contentType"] != "application/vnd.microsoft.card.adaptive" {
					t.Fatalf("teams: not an adaptive card message: %s", s)
				}
				card := at[0].(map[string]any)["content"].(map[string]any)
				if card["type"] != "AdaptiveCard" || card["actions"] == nil {
					t.Errorf("teams: card = %v", card)
				}
			}

			// A hostile alert: nothing pings, no script link.
			if _, err := w.Notify(context.Background(), hostile); err != nil {
				t.Fatal(err)
			}
			s = string((<-got).body)
			if strings.Contains(s, "javascript:") {
				t.Errorf("script URL passed through: %s", s)
			}
			switch format {
			case "slack":
				// Mentions and links are parsed in mrkdwn text only (the
				// top-level text and mrkdwn blocks), never in plain_text.
				var b struct {
					Text   string `json:"text"`
					Blocks []struct {
						Text struct{ Type, Text string } `json:"text"`
					} `json:"blocks"`
				}
				json.Unmarshal([]byte(s), &b)
				mrkdwn := []string{b.Text}
				for _, bl := range b.Blocks {
					if bl.Text.Type == "mrkdwn" {
						mrkdwn = append(mrkdwn, bl.Text.Text)
					}
				}
				for _, m := range mrkdwn {
					if strings.Contains(m, "<!") || strings.Contains(m, "<@") || strings.Contains(m, "<https://evil") {
						t.Errorf("slack: unescaped mention or link in mrkdwn %q", m)
					}
				}
				if !strings.Contains(b.Text, "&lt;!channel&gt;") {
					t.Errorf("slack: title not escaped as expected: %q", b.Text)
				}
			case "discord":
				var b struct {
					AllowedMentions struct {
						Parse []string `json:"parse"`
					} `json:"allowed_mentions"`
					Embeds []struct {
						Title string `json:"title"`
					} `json:"embeds"`
				}
				json.Unmarshal([]byte(s), &b)
				if b.AllowedMentions.Parse == nil || len(b.AllowedMentions.Parse) != 0 || !strings.Contains(s, `"allowed_mentions":{"parse":[]}`) {
					t.Errorf("discord: mentions not disabled: %s", s)
				}
				if !strings.Contains(b.Embeds[0].Title, `\[click\]\(https://evil.example\)`) {
					t.Errorf("discord: masked link not escaped: %q", b.Embeds[0].Title)
				}
			case "teams":
				if strings.Contains(s, `"actions"`) {
					t.Errorf("teams: an action for a non-http link: %s", s)
				}
			}
		})
	}
}
