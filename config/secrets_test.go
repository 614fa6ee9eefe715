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

// TestSecretsWhateverTheType: a secret written under a subscriber of
// another type (a webhook's keys on an email subscriber) is scrubbed all
// the same.
func TestSecretsWhateverTheType(t *testing.T) {
	cfg, err := Parse([]byte(`
topics: [{id: t, query: x}]
smtp: {host: mail.example.org, from: nw@example.org}
subscribers:
  - {id: desk, type: email, to: [desk@example.org], secret: stray-secret, headers: {X-Api-Key: stray-key-value}}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Secrets()
	for _, want := range []string{"stray-secret", "stray-key-value"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets lacks %q: %q", want, got)
		}
	}
	if slices.Contains(got, "desk@example.org") {
		t.Errorf("Secrets holds the address: %q", got)
	}
}
