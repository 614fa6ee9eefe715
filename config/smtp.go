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
	needSMTP := slices.ContainsFunc(c.Subscribers, func(s Subscriber) bool {
		k, _ := sinkKindOf(s.Type)
		return k.needsSMTP
	})
	if needSMTP {
		if c.SMTP.Host == "" {
			p.add("email subscribers need smtp.host", "smtp", "host")
		}
		if c.SMTP.From == "" {
			p.add("email subscribers need smtp.from", "smtp", "from")
		}
	}
	return p.ps
}
