package config

import (
	"fmt"
	"os"
	"strings"
)

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
