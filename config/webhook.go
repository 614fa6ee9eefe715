package config

import (
	"fmt"
	"net/url"
	"strings"
)

// WebhookSink holds the keys of a webhook subscriber (type: webhook).
type WebhookSink struct {
	URL     string            `yaml:"url"`
	Secret  string            `yaml:"secret"`
	Headers map[string]string `yaml:"headers"`
	// Secrets are further signing secrets, signed with alongside Secret
	// (one signature each) so that a receiver can rotate keys without
	// downtime.
	Secrets []string `yaml:"secrets"`
	// Format shapes the webhook body: empty for the newswatch JSON alert,
	// or slack, discord or teams for those tools' incoming webhooks.
	Format string `yaml:"format"`
}

// webhookKind is the webhook sink as config sees it (see sinkKind).
var webhookKind = sinkKind{
	name:     "webhook",
	validate: (*Config).validateWebhook,
	secrets:  webhookSecrets,
}

// validateWebhook checks the webhook keys of subscribers[i].
func (c *Config) validateWebhook(p *problems, i int, s Subscriber) {
	// The URL is not echoed: webhook URLs often embed a token.
	if s.URL == "" {
		p.add("a webhook needs a url (the receiver's http(s) address)", "subscribers", i, "url")
	} else if _, ok := httpURL(s.URL); !ok {
		p.add("is not an http(s) URL", "subscribers", i, "url")
	}
	switch s.Format {
	case "":
		if s.Secret == "" {
			p.add("a webhook needs a secret to sign its requests (whsec_<base64> or raw)", "subscribers", i, "secret")
		}
	case "slack", "discord", "teams":
		// The URL is the credential of a chat webhook.
	default:
		p.add(fmt.Sprintf("unknown format %q (slack, discord, teams, or empty for newswatch JSON)", s.Format), "subscribers", i, "format")
	}
	if s.Digest != "" {
		p.add("digest is for email subscribers", "subscribers", i, "digest")
	}
	if s.QuietHours != "" || s.MaxPerHour != 0 {
		p.add("quiet_hours and max_per_hour are for email subscribers (they fold alerts into a digest)", "subscribers", i, "type")
	}
}

// webhookSecrets are the credentials among s's webhook keys: signing
// secrets, credential header values, and the URL where it carries one
// (chat webhooks carry their credential in the path: the URL is replaced
// where it stands whole, never its path on its own).
func webhookSecrets(s Subscriber) []string {
	out := append([]string{s.Secret}, s.Secrets...)
	for k, v := range s.Headers {
		if !secretHeader(k) {
			continue
		}
		out = append(out, v)
		if _, tok, ok := strings.Cut(v, " "); ok {
			out = append(out, tok) // "Bearer <token>"
		}
	}
	if u, err := url.Parse(s.URL); err == nil && (len(u.Path) > 1 || u.RawQuery != "") {
		out = append(out, s.URL)
		// Chat webhooks carry their credential in the path
		// (/services/T…/B…/<token>): a token-like segment is a
		// secret wherever it stands alone, a path like /news is not.
		for _, seg := range strings.Split(u.Path, "/") {
			if tokenLike(seg) {
				out = append(out, seg)
			}
		}
	}
	return append(out, urlSecrets(s.URL)...)
}
