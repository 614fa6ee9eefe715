package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validate checks every section; the order is the order problems are
// reported in, which `newswatch check` shows as is.
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

// httpURL reports whether raw is an absolute http(s) URL.
func httpURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// validateNATSServer checks nats.url, nats.listen and nats.subject_prefix.
func (c *Config) validateNATSServer() Problems {
	p := &problems{c: c}
	if c.NATS.URL != "" {
		if u, err := url.Parse(c.NATS.URL); err != nil || u.Host == "" {
			// nats.go accepts comma-separated server lists; check each.
			for _, s := range strings.Split(c.NATS.URL, ",") {
				if u, err := url.Parse(strings.TrimSpace(s)); err != nil || u.Host == "" {
					p.add(fmt.Sprintf("%q is not a NATS URL (e.g. nats://host:4222)", s), "nats", "url")
				}
			}
		}
	}
	if l := c.NATS.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil {
			p.add(fmt.Sprintf("%q is not host:port (e.g. 127.0.0.1:4222)", l), "nats", "listen")
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.add(fmt.Sprintf("%q has no valid port", l), "nats", "listen")
		}
	}
	if !idPattern.MatchString(strings.ReplaceAll(c.NATS.SubjectPrefix, "_", "-")) {
		p.add("must be letters, digits, '-' or '_'", "nats", "subject_prefix")
	}
	return p.ps
}

// validateDedupWindow checks nats.dedup_window against the retention.
func (c *Config) validateDedupWindow() Problems {
	p := &problems{c: c}
	if c.NATS.DedupWindow > c.NATS.ArticleMaxAge {
		p.add(fmt.Sprintf("must not exceed nats.article_max_age (%s): JetStream refuses a duplicate window longer than a stream's retention", c.NATS.ArticleMaxAge), "nats", "dedup_window")
	}
	return p.ps
}

func (c *Config) validateLog() Problems {
	p := &problems{c: c}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add(fmt.Sprintf("unknown level %q (debug, info, warn or error)", c.Log.Level), "log", "level")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.add(fmt.Sprintf("unknown format %q (text or json)", c.Log.Format), "log", "format")
	}
	return p.ps
}

func (c *Config) validateHTTPAuth() Problems {
	p := &problems{c: c}
	if b := c.HTTP.Auth.Basic; (b.Username == "") != (b.Password == "") {
		p.add("basic auth needs both username and password", "http", "auth", "basic")
	}
	return p.ps
}

func (c *Config) validateHTTPExposure() Problems {
	p := &problems{c: c}
	if c.HTTP.ExposedWithoutAuth() {
		p.add(fmt.Sprintf("%q answers other hosts, and POST /-/reload and /api/* would need no credentials: set http.auth, listen on 127.0.0.1, or set http.insecure_no_auth: true if only a private network reaches it", c.HTTP.Listen), "http", "listen")
	}
	return p.ps
}

func (c *Config) validatePublicURL() Problems {
	p := &problems{c: c}
	if c.HTTP.PublicURL != "" {
		if u, ok := httpURL(c.HTTP.PublicURL); !ok || u.RawQuery != "" || u.Fragment != "" {
			p.add("is not an http(s) URL without query, e.g. https://newswatch.example.org", "http", "public_url")
		}
	}
	return p.ps
}

func (c *Config) validateSources() Problems {
	p := &problems{c: c}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		if !idPattern.MatchString(s.ID) {
			p.add(fmt.Sprintf("id %q must match [a-z0-9-]+", s.ID), "sources", i, "id")
		} else if seen[s.ID] {
			p.add(fmt.Sprintf("duplicate source id %q", s.ID), "sources", i, "id")
		}
		seen[s.ID] = true
		switch s.Type {
		case "feed":
		case "page":
			if s.Selectors == nil || s.Selectors.Items == "" {
				p.add("a page source needs selectors.items (the CSS selector of each item)", "sources", i, "type")
			}
		default:
			p.add(fmt.Sprintf("unknown type %q (feed or page)", s.Type), "sources", i, "type")
		}
		if _, ok := httpURL(s.URL); !ok {
			p.add(fmt.Sprintf("%q is not an http(s) URL", s.URL), "sources", i, "url")
		}
		if s.Schedule != "" {
			if _, err := ParseSchedule(s.Schedule); err != nil {
				p.add(err.Error(), "sources", i, "schedule")
			}
		}
	}
	return p.ps
}

func (c *Config) validateTrends() Problems {
	p := &problems{c: c}
	if c.Trends.Retention < 24*time.Hour {
		p.add(fmt.Sprintf("retention %s must be at least 24h", c.Trends.Retention), "trends", "retention")
	}
	return p.ps
}

func (c *Config) validateTopics() Problems {
	p := &problems{c: c}
	seen := map[string]bool{}
	for i, t := range c.Topics {
		if !idPattern.MatchString(t.ID) {
			p.add(fmt.Sprintf("id %q must match [a-z0-9-]+", t.ID), "topics", i, "id")
		} else if seen[t.ID] {
			p.add(fmt.Sprintf("duplicate topic id %q", t.ID), "topics", i, "id")
		}
		seen[t.ID] = true
		if strings.TrimSpace(t.Query) == "" {
			p.add("query is empty", "topics", i, "query")
		}
		if sp := t.Spikes; sp.Window < time.Hour || sp.Window > 7*24*time.Hour || sp.Window%time.Hour != 0 {
			p.add(fmt.Sprintf("window %s must be a whole number of hours between 1h and 168h", sp.Window), "topics", i, "spikes", "window")
		}
		if t.Spikes.MinArticles < 0 || t.Spikes.MinSources < 0 || t.Spikes.Threshold < 0 {
			p.add("min_articles, min_sources and threshold must not be negative", "topics", i, "spikes")
		}
	}
	return p.ps
}

// reservedWebPaths are the paths the web server answers itself, without
// their leading '/': one ending in '/' is a whole tree. web keeps them in
// step with its routes (web.TestOwnRoutesReservedInConfig).
var reservedWebPaths = []string{"", "api/", "-/", "metrics", "healthz", "readyz"}

// ReservedWebPath reports whether path is one the web server answers
// itself, so that nothing else (a WebSub callback) may be served there.
func ReservedWebPath(path string) bool {
	p := strings.Trim(path, "/")
	for _, r := range reservedWebPaths {
		if tree, ok := strings.CutSuffix(r, "/"); ok {
			if p == tree || strings.HasPrefix(p, r) {
				return true
			}
		} else if p == r {
			return true
		}
	}
	return false
}

func (c *Config) validateWebSub() Problems {
	p := &problems{c: c}
	if c.WebSub.CallbackURL == "" {
		return nil
	}
	if u, ok := httpURL(c.WebSub.CallbackURL); !ok {
		p.add("is not an http(s) URL", "websub", "callback_url")
	} else if ReservedWebPath(u.Path) {
		// Callbacks are served without http.auth under this path: it
		// must be a path of their own.
		p.add("needs a path of its own, e.g. https://newswatch.example.org/websub/", "websub", "callback_url")
	}
	if c.HTTP.Listen == "" {
		p.add("WebSub needs the http listener (http.listen) to receive callbacks", "websub", "callback_url")
	}
	if s := c.WebSub.Secret; s != "" && len(s) < 16 {
		p.add("must be at least 16 characters", "websub", "secret")
	}
	return p.ps
}

func (c *Config) validateFeedback() Problems {
	p := &problems{c: c}
	if s := c.Feedback.Secret; s != "" && len(s) < 16 {
		p.add("must be at least 16 characters", "feedback", "secret")
	}
	return p.ps
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
