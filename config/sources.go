package config

import (
	"fmt"
	"strings"
	"time"
)

// Fetch holds the fetcher's defaults.
type Fetch struct {
	Interval     time.Duration `yaml:"interval"`
	Timeout      time.Duration `yaml:"timeout"`
	UserAgent    string        `yaml:"user_agent"`
	MaxBodyBytes int64         `yaml:"max_body_bytes"`
	Workers      int           `yaml:"workers"`
	// AllowPrivateNetworks lets URLs found in content (item links fetched
	// for full text, redirects) reach loopback and private addresses.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// PerHost bounds the requests in flight to one host (0: 2).
	PerHost int `yaml:"per_host"`
	// HostInterval is the minimum time between two request starts to one
	// host (0: 500ms; negative: none).
	HostInterval time.Duration `yaml:"host_interval"`
	// FullTextWorkers bounds the full-text page fetches in flight in a
	// process, over all sources (0: 4; at most 64).
	FullTextWorkers int `yaml:"full_text_workers"`
	// FullTextBudget bounds the time one fetch job spends on full text
	// (0: 1m; at most half the source's interval); items left over wait
	// for the next fetch.
	FullTextBudget time.Duration `yaml:"full_text_budget"`
}

// Bounds of the full-text keys of Fetch.
const (
	MaxFullTextWorkers = 64
	MaxFullTextBudget  = time.Hour
)

// Source is one feed or page to watch.
type Source struct {
	ID       string        `yaml:"id"`
	Type     string        `yaml:"type"` // feed | page
	URL      string        `yaml:"url"`
	Interval time.Duration `yaml:"interval"`
	// Schedule, a five-field cron expression ("*/5 7-22 * * 1-5", server
	// time zone), replaces Interval: the source is fetched at those times.
	Schedule string `yaml:"schedule"`
	// FullText fetches each new item's page and extracts its main text.
	FullText  bool           `yaml:"full_text"`
	Selectors *PageSelectors `yaml:"selectors"`
}

// PageSelectors turn an index page into items (type: page). Title, Link,
// Summary and Published are relative to each item.
type PageSelectors struct {
	Items     string `yaml:"items"`
	Title     string `yaml:"title"`
	Link      string `yaml:"link"`
	Summary   string `yaml:"summary"`
	Published string `yaml:"published"`
}

// DefaultUserAgent is sent when fetch.user_agent is empty.
const DefaultUserAgent = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"

func (c *Config) validateSources() Problems {
	p := &problems{c: c}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		p.id(s.ID, seen, "sources", "source", i)
		switch s.Type {
		case "feed":
		case "page":
			if s.Selectors == nil || s.Selectors.Items == "" {
				p.add("a page source needs selectors.items (the CSS selector of each item)", "sources", i, "type")
			}
		default:
			p.add(fmt.Sprintf("unknown type %q (feed or page)", s.Type), "sources", i, "type")
		}
		if s.URL == "" {
			p.add("a source needs a url (its feed's or page's http(s) address)", "sources", i, "url")
		} else if _, ok := httpURL(s.URL); !ok {
			p.add(fmt.Sprintf("%q is not an http(s) URL%s", s.URL, schemeHint(s.URL)), "sources", i, "url")
		}
		if s.Schedule != "" {
			if _, err := ParseSchedule(s.Schedule); err != nil {
				p.add(err.Error(), "sources", i, "schedule")
			}
		}
	}
	return p.ps
}

// schemeHint proposes the URL meant when raw lacks its scheme
// ("example.org/rss" for "https://example.org/rss").
func schemeHint(raw string) string {
	if strings.Contains(raw, "://") || strings.ContainsAny(raw, " \t") {
		return ""
	}
	scheme := "https://"
	if strings.HasPrefix(raw, "127.") || strings.HasPrefix(raw, "localhost") || strings.HasPrefix(raw, "[::1]") {
		scheme = "http://"
	}
	if _, ok := httpURL(scheme + raw); !ok {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", scheme+raw)
}
