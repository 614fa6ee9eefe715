package config

import (
	"fmt"
	"strings"
	"time"
)

// EmailSink holds the keys of an email subscriber (type: email).
type EmailSink struct {
	To []string `yaml:"to"`
	// Digest collects the subscriber's alerts and sends them as one email
	// on a schedule: a cron expression ("0 8 * * *", in the server's
	// time zone) or an interval ("1h"). Empty: one email per alert.
	Digest string `yaml:"digest"`
	// QuietHours ("22:00-07:00", server time zone) holds the alerts that
	// arrive in that window and sends them as one digest when it ends.
	QuietHours string `yaml:"quiet_hours"`
	// MaxPerHour caps the emails sent in an hour; alerts beyond it are
	// folded into one digest sent at the end of the hour. 0: no cap.
	MaxPerHour int `yaml:"max_per_hour"`
	// Templates override the built-in email templates with files.
	Templates Templates `yaml:"templates"`
}

// Templates names template files that replace the built-in email
// templates: Subject and Text are text/template, HTML is html/template.
// Empty fields keep the built-in template.
type Templates struct {
	Subject string `yaml:"subject"`
	Text    string `yaml:"text"`
	HTML    string `yaml:"html"`
}

// emailKind is the email sink as config sees it (see sinkKind).
var emailKind = sinkKind{
	name:      "email",
	validate:  (*Config).validateEmail,
	secrets:   func(Subscriber) []string { return nil }, // addresses are not secrets
	needsSMTP: true,
}

// validateEmail checks the email keys of subscribers[i].
func (c *Config) validateEmail(p *problems, i int, s Subscriber) {
	if len(s.To) == 0 {
		p.add("an email subscriber needs at least one address in to", "subscribers", i, "to")
	}
	if s.Digest != "" {
		if sch, err := ParseSchedule(s.Digest); err != nil {
			p.add(err.Error(), "subscribers", i, "digest")
		} else if iv, ok := sch.(every); ok && time.Duration(iv) > c.NATS.ArticleMaxAge {
			p.add(fmt.Sprintf("a digest every %s holds alerts longer than nats.article_max_age (%s) keeps them", time.Duration(iv), c.NATS.ArticleMaxAge), "subscribers", i, "digest")
		}
	}
	if s.QuietHours != "" {
		if _, err := ParseQuietHours(s.QuietHours); err != nil {
			p.add(err.Error(), "subscribers", i, "quiet_hours")
		}
	}
	for j, addr := range s.To {
		if !strings.Contains(addr, "@") || strings.ContainsAny(addr, "\r\n") {
			p.add(fmt.Sprintf("%q is not an email address", addr), "subscribers", i, "to", j)
		}
	}
}
