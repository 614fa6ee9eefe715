package config

import (
	"slices"
	"testing"
)

func TestSecretsOfConfig(t *testing.T) {
	cfg, err := Parse([]byte(`
nats: {url: "nats://natsuser:natspass@nats-1:4222"}
http: {auth: {basic: {username: ops, password: basicpass}, bearer_token: bearertok}}
sources:
  - {id: a, url: "https://example.org/rss?token=srctok&page=2"}
topics: [{id: t, query: x}]
subscribers:
  - {id: slack, type: webhook, url: "https://hooks.slack.com/services/T1/B2/slacktok", secret: whsecret, headers: {Authorization: "Bearer hdrtok", Accept: application/json}}
  - {id: plain, type: webhook, url: "https://receiver.example.org", secret: whsecret2}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Secrets()
	for _, want := range []string{"natspass", "basicpass", "bearertok", "srctok", "https://hooks.slack.com/services/T1/B2/slacktok", "whsecret", "whsecret2", "hdrtok", "Bearer hdrtok"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets lacks %q: %q", want, got)
		}
	}
	// Neither the page number nor a bare origin are secrets: scrubbing
	// them would hide what the page is for.
	for _, not := range []string{"2", "https://receiver.example.org", "ops", "/services/T1/B2/slacktok", "application/json"} {
		if slices.Contains(got, not) {
			t.Errorf("Secrets holds %q", not)
		}
	}
}
