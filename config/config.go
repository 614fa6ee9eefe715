// Package config loads, expands and validates newswatch's config.yaml.
//
// Loading is strict: unknown keys are errors (with a "did you mean" hint),
// ${VAR} references expand from the environment, defaults are applied, and
// Validate reports every problem at once, each with its line number.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole of config.yaml.
type Config struct {
	DataDir string   `yaml:"data_dir"`
	NATS    NATS     `yaml:"nats"`
	HTTP    HTTP     `yaml:"http"`
	Log     Log      `yaml:"log"`
	Fetch   Fetch    `yaml:"fetch"`
	Sources []Source `yaml:"sources"`
	// SourcesOPML imports every feed of an OPML file (relative to this
	// file) as a source, with an id derived from its title.
	SourcesOPML string       `yaml:"sources_opml"`
	Topics      []Topic      `yaml:"topics"`
	Subscribers []Subscriber `yaml:"subscribers"`
	SMTP        SMTP         `yaml:"smtp"`
	WebSub      WebSub       `yaml:"websub"`
	Trends      Trends       `yaml:"trends"`
	Feedback    Feedback     `yaml:"feedback"`
	// Events sets when operational events are raised; subscribers choose
	// which they get with their own events key.
	Events Events `yaml:"events"`

	path        string
	src         []byte     // the file as read, for positions inside values
	root        *yaml.Node // held while parse runs only; then tree
	tree        *yamlTree
	yamlSources int      // sources written in the YAML; the rest came from OPML
	expanded    []string // values put in by ${VAR} and ${file:PATH}
	// expandedNodes holds each scalar changed by expansion, with its text
	// as written: what problems show instead of the value.
	expandedNodes map[*yaml.Node]string
}

// Expanded returns the values the config took from the environment and
// from files: secrets, as far as output is concerned.
func (c *Config) Expanded() []string { return c.expanded }

// NATS configures the message bus.
type NATS struct {
	// URL of a NATS server or cluster; empty starts an embedded server
	// with JetStream in DataDir.
	URL           string `yaml:"url"`
	SubjectPrefix string `yaml:"subject_prefix"`
	// SyncInterval is how often the embedded server fsyncs JetStream
	// files. Zero keeps the server default (2m): a process crash loses
	// nothing, a power cut can lose writes since the last sync.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// DedupWindow is how long JetStream remembers message ids; it must
	// cover the time between a publish and the "seen" write after it.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// ArticleMaxAge bounds how long the article archive is kept.
	ArticleMaxAge time.Duration `yaml:"article_max_age"`
	// SeenTTL is how long an article id is remembered as already seen.
	SeenTTL time.Duration `yaml:"seen_ttl"`
	// Listen exposes the embedded server on a TCP address (e.g.
	// 127.0.0.1:4222) so other NATS clients can read the bus; empty keeps
	// it in-process only.
	Listen string `yaml:"listen"`
	// Replicas is the JetStream replication factor of streams and buckets
	// (1 for the embedded server; up to 5 on a cluster).
	Replicas int `yaml:"replicas"`
	// Storage is where streams and buckets keep their messages: file
	// (the default; survives restarts) or memory (fast, lost when the
	// server stops; replicas on a cluster still protect against the loss
	// of one node).
	Storage string `yaml:"storage"`

	// Authentication against nats.url: at most one of a credentials
	// file (JWT and NKey seed), an NKey seed file, user and password, or
	// a token. Secrets come from files or ${ENV} references.
	CredentialsFile string `yaml:"credentials_file"`
	NKeySeedFile    string `yaml:"nkey_seed_file"`
	User            string `yaml:"user"`
	Password        string `yaml:"password"`
	Token           string `yaml:"token"`
	// TLS verifies the servers with a CA and presents a client
	// certificate, for nats.url.
	TLS NATSTLS `yaml:"tls"`
}

// NATSTLS configures TLS towards NATS: CA verifies the servers (empty:
// the system roots); Cert and Key, together, are the client certificate.
type NATSTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether any TLS setting is given.
func (t NATSTLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// HTTP configures the health, metrics and status listener.
type HTTP struct {
	Listen string `yaml:"listen"` // empty disables the listener
	// Auth protects every endpoint but /healthz; empty: no auth.
	Auth HTTPAuth `yaml:"auth"`
	// InsecureNoAuth allows listening beyond loopback without auth, for
	// a listener only a private network reaches (a Kubernetes Service, a
	// container's published port bound to the host's loopback).
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// PublicURL is where people reach this listener from outside, e.g.
	// https://newswatch.example.org; alerts carry feedback links under
	// it. Empty: alerts carry no feedback links.
	PublicURL string `yaml:"public_url"`
}

// ExposedWithoutAuth reports whether the listener would answer other
// hosts (POST /-/reload and /api/* included) without auth, and nothing
// says that is meant. A host name other than localhost counts as
// exposed: it may resolve to any interface.
func (h HTTP) ExposedWithoutAuth() bool {
	if h.Listen == "" || h.InsecureNoAuth || h.Auth.BearerToken != "" || h.Auth.Basic.Username != "" {
		return false
	}
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return false // reported as a malformed address, if at all
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// HTTPAuth is the optional authentication of the HTTP listener: basic
// auth, a bearer token, or both (either one is then accepted).
type HTTPAuth struct {
	Basic       BasicAuth `yaml:"basic"`
	BearerToken string    `yaml:"bearer_token"`
}

// BasicAuth is one user name and password for HTTP basic auth.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

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

// Topic is a named query.
type Topic struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Query string `yaml:"query"`
	// MinScore is the score an article must reach, on top of satisfying
	// Query, to match; zero accepts any article that satisfies Query.
	// See docs/queries.md for how the score is computed.
	MinScore float64 `yaml:"min_score"`
	// Weights gives each field's weight in the score (title, summary,
	// content, category, url, source); absent fields keep their defaults.
	Weights map[string]float64 `yaml:"weights"`
	// StoryWindow groups alerts whose titles tell the same story within
	// this window: each subscriber gets the first as an alert and later
	// ones as follow-ups ("also reported by"). Unset: 24h; 0s: off.
	StoryWindow *time.Duration `yaml:"story_window"`
	// Spikes turns on coverage-spike alerts for the topic (docs/trends.md).
	Spikes Spikes `yaml:"spikes"`
}

// Trends configures the per-topic volume series (docs/trends.md).
type Trends struct {
	// Retention is how long hourly buckets are kept; default 720h (30 days).
	Retention time.Duration `yaml:"retention"`
}

// Spikes configures a topic's spike alerts: the last Window's articles
// and distinct sources against the same hours of previous days.
type Spikes struct {
	Enabled bool `yaml:"enabled"`
	// Window is the span counted, a whole number of hours; default 6h.
	Window time.Duration `yaml:"window"`
	// MinArticles and MinSources are floors below which nothing is a
	// spike, whatever the baseline; defaults 5 and 3.
	MinArticles int `yaml:"min_articles"`
	MinSources  int `yaml:"min_sources"`
	// Threshold is how many robust deviations (1.4826 × MAD) above the
	// seasonal median a window must be; default 5.
	Threshold float64 `yaml:"threshold"`
}

// Subscriber receives alerts of its topics.
type Subscriber struct {
	ID     string   `yaml:"id"`
	Type   string   `yaml:"type"` // webhook | email
	Topics []string `yaml:"topics"`

	// webhook
	URL     string            `yaml:"url"`
	Secret  string            `yaml:"secret"`
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
	// Secrets are further signing secrets, signed with alongside Secret
	// (one signature each) so that a receiver can rotate keys without
	// downtime.
	Secrets []string `yaml:"secrets"`
	// Format shapes the webhook body: empty for the newswatch JSON alert,
	// or slack, discord or teams for those tools' incoming webhooks.
	Format string `yaml:"format"`

	// email
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

	Retry Retry `yaml:"retry"`

	// Events are the operational events the subscriber is sent besides
	// its alerts (see EventKinds); empty: none. A subscriber with events
	// and no topics gets the events only.
	Events []string `yaml:"events"`
}

// EventKinds are the operational events a subscriber may ask for.
// source.failing brings source.recovered with it.
var EventKinds = []string{"source.failing", "store.error", "data.lost", "deadletter", "heartbeat"}

// Events sets when operational events are raised.
type Events struct {
	// SourceFailingAfter is how many failed fetches in a row make a
	// source failing (default 3; 0: never by count).
	SourceFailingAfter *int `yaml:"source_failing_after"`
	// SourceStaleAfter makes a source whose last fetch failed failing
	// when it has had no success for this long (0: off).
	SourceStaleAfter time.Duration `yaml:"source_stale_after"`
	// Heartbeat is the interval of heartbeat events (default 5m), sent
	// while some subscriber asks for them.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// FailingAfter is SourceFailingAfter with its default applied.
func (e Events) FailingAfter() int {
	if e.SourceFailingAfter == nil {
		return DefaultSourceFailingAfter
	}
	return *e.SourceFailingAfter
}

// DefaultSourceFailingAfter is events.source_failing_after when unset.
const DefaultSourceFailingAfter = 3

// WantsEvent reports whether the subscriber asked for events of kind
// (source.recovered comes with source.failing).
func (s Subscriber) WantsEvent(kind string) bool {
	if kind == "source.recovered" {
		kind = "source.failing"
	}
	return slices.Contains(s.Events, kind)
}

// Templates names template files that replace the built-in email
// templates: Subject and Text are text/template, HTML is html/template.
// Empty fields keep the built-in template.
type Templates struct {
	Subject string `yaml:"subject"`
	Text    string `yaml:"text"`
	HTML    string `yaml:"html"`
}

// Retry is a subscriber's delivery retry schedule: Attempts tries in all,
// backing off exponentially from Initial, capped at Max.
type Retry struct {
	Attempts int           `yaml:"attempts"`
	Initial  time.Duration `yaml:"initial"`
	Max      time.Duration `yaml:"max"`
}

// Delay is the back-off before try attempt+1: Initial, tripled each time,
// capped at Max, with ±20% jitter (jitter in [0,1)). With the default 10
// tries from 30s capped at 6h, the tries span about 21 hours.
func (r Retry) Delay(attempt int, jitter float64) time.Duration {
	d := float64(r.Initial)
	for i := 1; i < attempt && d < float64(r.Max); i++ {
		d *= 3
	}
	d = min(d, float64(r.Max))
	d *= 0.8 + 0.4*jitter
	return time.Duration(d)
}

// Span is the longest time from the first try to the last.
func (r Retry) Span() time.Duration {
	var total time.Duration
	for a := 1; a < r.Attempts; a++ {
		total += r.Delay(a, 1)
	}
	return total
}

// WebSub lets feeds that name a hub push their updates.
type WebSub struct {
	// CallbackURL is where hubs reach this daemon: the public URL of the
	// http.listen address plus a path, e.g.
	// https://newswatch.example.org/websub/. Empty: no WebSub, polling only.
	CallbackURL string `yaml:"callback_url"`
	// Secret derives each subscription's signing secret (at least 16
	// characters); empty: a random one kept in the bus.
	Secret string `yaml:"secret"`
}

// Feedback configures the "relevant" / "not relevant" links of alerts.
type Feedback struct {
	// Secret signs the links (at least 16 characters); empty: a random
	// key kept in the bus, made at first start and shared by replicas.
	Secret string `yaml:"secret"`
}

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

// DefaultUserAgent is sent when fetch.user_agent is empty.
const DefaultUserAgent = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"

// ApplyDefaults fills every unset field with its default.
func (c *Config) ApplyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DataDir, "./data")
	defDur(&c.Trends.Retention, 30*24*time.Hour)
	def(&c.NATS.SubjectPrefix, "newswatch")
	def(&c.NATS.Storage, "file")
	defDur(&c.NATS.DedupWindow, 24*time.Hour)
	defDur(&c.NATS.ArticleMaxAge, 30*24*time.Hour)
	defDur(&c.NATS.SeenTTL, 90*24*time.Hour)
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "text")
	defDur(&c.Fetch.Interval, 10*time.Minute)
	defDur(&c.Fetch.Timeout, 30*time.Second)
	def(&c.Fetch.UserAgent, DefaultUserAgent)
	if c.Fetch.MaxBodyBytes == 0 {
		c.Fetch.MaxBodyBytes = 10 << 20
	}
	if c.Fetch.Workers == 0 {
		c.Fetch.Workers = 8
	}
	if c.Fetch.FullTextWorkers == 0 {
		c.Fetch.FullTextWorkers = 4
	}
	defDur(&c.Fetch.FullTextBudget, time.Minute)
	for i := range c.Sources {
		s := &c.Sources[i]
		def(&s.Type, "feed")
		defDur(&s.Interval, c.Fetch.Interval)
	}
	for i := range c.Topics {
		def(&c.Topics[i].Name, c.Topics[i].ID)
		sp := &c.Topics[i].Spikes
		defDur(&sp.Window, 6*time.Hour)
		if sp.MinArticles == 0 {
			sp.MinArticles = 5
		}
		if sp.MinSources == 0 {
			sp.MinSources = 3
		}
		if sp.Threshold == 0 {
			sp.Threshold = 5
		}
		if c.Topics[i].StoryWindow == nil {
			w := 24 * time.Hour
			c.Topics[i].StoryWindow = &w
		}
	}
	for i := range c.Subscribers {
		s := &c.Subscribers[i]
		defDur(&s.Timeout, 10*time.Second)
		if s.Retry.Attempts == 0 {
			s.Retry.Attempts = 10
		}
		defDur(&s.Retry.Initial, 30*time.Second)
		defDur(&s.Retry.Max, 6*time.Hour)
	}
	if c.SMTP.Port == 0 {
		c.SMTP.Port = 587
	}
	def(&c.SMTP.TLS, "starttls")
	defDur(&c.SMTP.Timeout, 30*time.Second)
	defDur(&c.Events.Heartbeat, 5*time.Minute)
}

// Path is the file the config was loaded from, if any.
func (c *Config) Path() string { return c.path }

// Problem is one thing wrong with a config, located by line.
type Problem struct {
	Line   int    // 0 when unknown
	Column int    // in characters, 1-based; 0 when unknown
	Path   string // e.g. sources[2].url
	Msg    string
	// Excerpt is the line of the file the problem is on, with a caret
	// under Column: a few lines of text for a terminal, or empty.
	Excerpt string
}

func (p Problem) String() string {
	loc := ""
	switch {
	case p.Line > 0 && p.Column > 0:
		loc = fmt.Sprintf("line %d, column %d: ", p.Line, p.Column)
	case p.Line > 0:
		loc = fmt.Sprintf("line %d: ", p.Line)
	}
	if p.Path != "" {
		return loc + p.Path + ": " + p.Msg
	}
	return loc + p.Msg
}

// Problems is the error returned when a config is invalid.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads, expands, decodes and validates the config file at path.
// Relative paths inside it (data_dir) are resolved against its directory.
// A returned error of type Problems lists every problem found; the config
// is then returned as far as it could be decoded.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read config: %w (newswatch init -config %s writes a starter config)", err, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	// On problems the partly decoded config is returned too, so that
	// callers such as `check` can look further.
	c, err := parse(data, os.LookupEnv, filepath.Dir(path))
	c.path = path
	dir := filepath.Dir(path)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	rel(&c.DataDir)
	for i := range c.Subscribers {
		t := &c.Subscribers[i].Templates
		rel(&t.Subject)
		rel(&t.Text)
		rel(&t.HTML)
	}
	return c, err
}

// Parse decodes and validates config data; lookupEnv resolves ${VAR}.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(data, lookupEnv, ".")
}

func parse(data []byte, lookupEnv func(string) (string, bool), dir string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		c := &Config{}
		c.ApplyDefaults()
		return c, Problems{syntaxProblem(data, err)}
	}
	c := &Config{root: &root, src: data, tree: newYAMLTree(data, &root)}
	defer func() { c.root = nil }()
	if len(root.Content) == 0 {
		c.ApplyDefaults()
		return c, Problems{{Msg: "config is empty"}}
	}
	doc := root.Content[0]
	var probs Problems
	envProbs, x := expandEnv(doc, lookupEnv, dir)
	c.expanded = x.values
	c.expandedNodes = x.raw
	probs = append(probs, unknownKeys(doc, typeOfConfig, "")...)
	if err := doc.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				probs = append(probs, Problem{Line: lineFromMsg(e), Msg: stripLine(e)})
			}
		} else {
			probs = append(probs, Problem{Msg: err.Error()})
		}
	}
	c.yamlSources = len(c.Sources)
	if c.SourcesOPML != "" {
		path := c.SourcesOPML
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if err := c.importOPML(path); err != nil {
			probs = append(probs, Problem{Line: c.Line("sources_opml"), Path: "sources_opml", Msg: err.Error()})
		}
	}
	c.ApplyDefaults()
	probs = append(probs, c.validate()...)
	// A reference that could not be expanded is one problem, not one more
	// for each check of the value it left empty.
	probs = append(envProbs, slices.DeleteFunc(probs, x.afterFailedExpansion)...)
	if len(probs) > 0 {
		return c, c.Redact(probs)
	}
	return c, nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9-]+$`)

// problem locates msg at path (keys and list indexes).
func (c *Config) problem(msg string, path ...any) Problem {
	if len(path) > 1 && path[0] == "sources" && path[1].(int) >= c.yamlSources {
		// Imported from OPML: point at the import.
		return Problem{Line: c.Line("sources_opml"), Path: "sources_opml", Msg: fmt.Sprintf("%s (source %s): %s", c.SourcesOPML, c.Sources[path[1].(int)].ID, msg)}
	}
	return Problem{Line: c.Line(path...), Path: pathString(path), Msg: msg}
}

func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch v := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// Line returns the line of the YAML node at path (keys and list indexes),
// or of its nearest existing ancestor; 0 when the config was not parsed
// from YAML.
func (c *Config) Line(path ...any) int {
	line, _ := c.nodeAt(path...)
	return line
}

// nodeAt returns the line of path as Line does, and the value node at
// path when it exists.
func (c *Config) nodeAt(path ...any) (int, *yaml.Node) {
	root := c.root
	if root == nil {
		root = c.tree.root()
	}
	if root == nil || len(root.Content) == 0 {
		return 0, nil
	}
	n := root.Content[0]
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch v := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == v {
						line = n.Content[i].Line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && v < len(n.Content) {
				next = n.Content[v]
				line = next.Line
			}
		}
		if next == nil {
			return line, nil
		}
		n = next
	}
	return line, n
}
