package config

import (
	"fmt"
	"slices"
	"time"
)

// SMTP is the mail server used by email subscribers.
type SMTP struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	TLS      string        `yaml:"tls"` // starttls | tls | none
	Username string        `yaml:"username"`
	Password string        `yaml:"password"`
	From     string        `yaml:"from"`
	Timeout  time.Duration `yaml:"timeout"`
}

// validateSMTP checks smtp.tls, and smtp.host and smtp.from when an email
// subscriber needs them.
func (c *Config) validateSMTP() Problems {
	p := &problems{c: c}
	switch c.SMTP.TLS {
	case "starttls", "tls", "none":
	default:
		p.add(fmt.Sprintf("unknown tls mode %q (starttls, tls or none)", c.SMTP.TLS), "smtp", "tls")
	}
	first := slices.IndexFunc(c.Subscribers, func(s Subscriber) bool {
		k, _ := sinkKindOf(s.Type)
		return k.needsSMTP
	})
	if first >= 0 {
		if c.SMTP.Host == "" {
			p.ps = append(p.ps, c.smtpProblem(first, "host", "email subscribers need smtp.host, e.g. smtp.example.org"))
		}
		if c.SMTP.From == "" {
			p.ps = append(p.ps, c.smtpProblem(first, "from", `email subscribers need smtp.from, e.g. "newswatch <alerts@example.org>"`))
		}
	}
	return p.ps
}

// smtpProblem locates a missing smtp key: at the key when it is written
// (empty), else at the first email subscriber, which is what needs it;
// line 1 of the file would point at nothing.
func (c *Config) smtpProblem(first int, key, msg string) Problem {
	p := c.problem(msg, "smtp", key)
	if _, n := c.nodeAt("smtp", key); n == nil {
		p.Line = c.Line("subscribers", first, "type")
		p.Msg += fmt.Sprintf(" (subscribers[%d] %q is an email subscriber)", first, c.Subscribers[first].ID)
	}
	return p
}
