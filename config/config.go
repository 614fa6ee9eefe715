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

// ApplyDefaults fills every unset field with its default.
func (c *Config) ApplyDefaults() {
	orDefault(&c.DataDir, "./data")
	orDefault(&c.Trends.Retention, 30*24*time.Hour)
	orDefault(&c.NATS.SubjectPrefix, "newswatch")
	orDefault(&c.NATS.Storage, "file")
	orDefault(&c.NATS.DedupWindow, 24*time.Hour)
	orDefault(&c.NATS.ArticleMaxAge, 30*24*time.Hour)
	orDefault(&c.NATS.SeenTTL, 90*24*time.Hour)
	orDefault(&c.Log.Level, "info")
	orDefault(&c.Log.Format, "text")
	orDefault(&c.Fetch.Interval, 10*time.Minute)
	orDefault(&c.Fetch.Timeout, 30*time.Second)
	orDefault(&c.Fetch.UserAgent, DefaultUserAgent)
	orDefault(&c.Fetch.MaxBodyBytes, 10<<20)
	orDefault(&c.Fetch.Workers, 8)
	orDefault(&c.Fetch.FullTextWorkers, 4)
	orDefault(&c.Fetch.FullTextBudget, time.Minute)
	for i := range c.Sources {
		s := &c.Sources[i]
		orDefault(&s.Type, "feed")
		orDefault(&s.Interval, c.Fetch.Interval)
	}
	for i := range c.Topics {
		orDefault(&c.Topics[i].Name, c.Topics[i].ID)
		sp := &c.Topics[i].Spikes
		orDefault(&sp.Window, 6*time.Hour)
		orDefault(&sp.MinArticles, 5)
		orDefault(&sp.MinSources, 3)
		orDefault(&sp.Threshold, 5)
		c.Topics[i].Learned.applyDefaults()
		if c.Topics[i].StoryWindow == nil {
			w := 24 * time.Hour
			c.Topics[i].StoryWindow = &w
		}
	}
	for i := range c.Subscribers {
		s := &c.Subscribers[i]
		orDefault(&s.Timeout, 10*time.Second)
		orDefault(&s.Retry.Attempts, 10)
		orDefault(&s.Retry.Initial, 30*time.Second)
		orDefault(&s.Retry.Max, 6*time.Hour)
	}
	orDefault(&c.SMTP.Port, 587)
	orDefault(&c.SMTP.TLS, "starttls")
	orDefault(&c.SMTP.Timeout, 30*time.Second)
	orDefault(&c.Events.Heartbeat, 5*time.Minute)
}

// orDefault sets *p to v when it is unset (the zero value).
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
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

	decode bool // a value the decoder refused (wrong type)
	// anchorLine, for a value reached through an alias (*name), is the
	// line of the anchored value, where the decoder reports it.
	anchorLine int
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
	// Decode first: it refuses excessive aliasing ("billion laughs"),
	// which the walks below would otherwise expand without limit.
	decodeErr := doc.Decode(c)
	var te *yaml.TypeError
	if decodeErr != nil && !errors.As(decodeErr, &te) {
		c.ApplyDefaults()
		return c, c.Redact(Problems{{Msg: decodeErr.Error()}})
	}
	probs = append(probs, unknownKeys(doc, typeOfConfig, "")...)
	var decoded Problems
	if te != nil {
		// Each value of the wrong type at its key, with what to write;
		// the decoder's own words only for what that walk missed.
		decoded = typeProblems(doc, typeOfConfig, "")
		for _, e := range te.Errors {
			line := lineFromMsg(e)
			if !slices.ContainsFunc(decoded, func(p Problem) bool { return p.Line == line || p.anchorLine == line }) {
				decoded = append(decoded, Problem{Line: line, Msg: stripLine(e), decode: true})
			}
		}
		probs = append(probs, decoded...)
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
	// A value of the wrong type is one problem, not one more for each
	// check of what the decoder left empty.
	probs = append(probs, slices.DeleteFunc(c.validate(), func(p Problem) bool { return coveredBy(p, decoded) })...)
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
