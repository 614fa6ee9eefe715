package config

import (
	"fmt"
	"net/url"
)

// validate checks every section; the order is the order problems are
// reported in, which `newswatch check` shows as is. Each section's check
// is beside its type, in the file named after the section (nats.go,
// http.go, log.go, sources.go, topics.go, subscribers.go with a file per
// sink kind, websub.go, feedback.go, smtp.go); the bounds of numbers and
// durations are in bounds.go.
func (c *Config) validate() Problems {
	var ps Problems
	ps = append(ps, c.validateNATSServer()...)
	ps = append(ps, c.validateNATSAccess()...)
	ps = append(ps, c.validateLog()...)
	ps = append(ps, c.validateHTTPAuth()...)
	ps = append(ps, c.validateBounds()...)
	ps = append(ps, c.validateHTTPExposure()...)
	ps = append(ps, c.validateDedupWindow()...)
	ps = append(ps, c.validateSources()...)
	ps = append(ps, c.validateTrends()...)
	ps = append(ps, c.validateTopics()...)
	ps = append(ps, c.validateSubscribers()...)
	ps = append(ps, c.validateWebSub()...)
	ps = append(ps, c.validatePublicURL()...)
	ps = append(ps, c.validateFeedback()...)
	ps = append(ps, c.validateSMTP()...)
	return ps
}

// problems collects the problems of one section, each located in c.
type problems struct {
	c  *Config
	ps Problems
}

func (p *problems) add(msg string, path ...any) { p.ps = append(p.ps, p.c.problem(msg, path...)) }

// id checks the id of item i of section (what names one in messages):
// its form, and that no earlier item (in seen) has it.
func (p *problems) id(id string, seen map[string]bool, section, what string, i int) {
	if !idPattern.MatchString(id) {
		p.add(fmt.Sprintf("id %q must match [a-z0-9-]+", id), section, i, "id")
	} else if seen[id] {
		p.add(fmt.Sprintf("duplicate %s id %q", what, id), section, i, "id")
	}
	seen[id] = true
}

// httpURL reports whether raw is an absolute http(s) URL.
func httpURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}
