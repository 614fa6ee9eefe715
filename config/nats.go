package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

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

// validateNATSAccess checks nats.storage, the authentication options and
// TLS. Secrets are never echoed: only which key is wrong.
func (c *Config) validateNATSAccess() Problems {
	var ps Problems
	add := func(msg string, path ...any) {
		ps = append(ps, Problem{Line: c.Line(path...), Path: pathString(path), Msg: msg})
	}
	n := c.NATS
	switch n.Storage {
	case "file", "memory":
	default:
		add(fmt.Sprintf("unknown storage %q (file or memory)", n.Storage), "nats", "storage")
	}
	if n.Replicas < 0 || n.Replicas > MaxReplicas {
		add("replicas must be between 1 and 5", "nats", "replicas")
	}

	var methods []string
	if n.CredentialsFile != "" {
		methods = append(methods, "credentials_file")
	}
	if n.NKeySeedFile != "" {
		methods = append(methods, "nkey_seed_file")
	}
	if n.User != "" || n.Password != "" {
		methods = append(methods, "user/password")
	}
	if n.Token != "" {
		methods = append(methods, "token")
	}
	if len(methods) > 1 {
		add("give one way to authenticate, not "+strings.Join(methods, " and "), "nats")
	}
	if (n.User == "") != (n.Password == "") {
		add("user and password go together", "nats", "user")
	}
	if n.URL == "" && (len(methods) > 0 || n.TLS.Enabled()) {
		add("authentication and tls apply to nats.url; the embedded server takes neither", "nats")
	}
	if (n.TLS.Cert == "") != (n.TLS.Key == "") {
		add("a client certificate needs both cert and key", "nats", "tls")
	}
	for _, f := range []struct {
		key, path string
		at        []any
	}{
		{"credentials_file", n.CredentialsFile, []any{"nats", "credentials_file"}},
		{"nkey_seed_file", n.NKeySeedFile, []any{"nats", "nkey_seed_file"}},
		{"ca", n.TLS.CA, []any{"nats", "tls", "ca"}},
		{"cert", n.TLS.Cert, []any{"nats", "tls", "cert"}},
		{"key", n.TLS.Key, []any{"nats", "tls", "key"}},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			add(fmt.Sprintf("%s: cannot read %s", f.key, f.path), f.at...)
		}
	}
	return ps
}
