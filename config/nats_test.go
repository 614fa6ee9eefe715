package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNATSAccess(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "present.pem")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name, nats string
		want       []string // substrings of problems; none: valid
	}{
		{"defaults", `{}`, nil},
		{"user and password", `{url: "nats://h:4222", user: nw, password: "${PW}"}`, nil},
		{"token", `{url: "nats://h:4222", token: "${PW}"}`, nil},
		{"credentials", `{url: "nats://h:4222", credentials_file: ` + file + `}`, nil},
		{"tls", `{url: "tls://h:4222", tls: {ca: ` + file + `, cert: ` + file + `, key: ` + file + `}}`, nil},
		{"memory", `{storage: memory}`, nil},
		{"two methods", `{url: "nats://h:4222", user: nw, password: x, token: y}`, []string{"line 2: nats: give one way to authenticate, not user/password and token"}},
		{"user alone", `{url: "nats://h:4222", user: nw}`, []string{"nats.user: user and password go together"}},
		{"auth on embedded", `{token: y}`, []string{"apply to nats.url"}},
		{"cert without key", `{url: "nats://h:4222", tls: {cert: ` + file + `}}`, []string{"nats.tls: a client certificate needs both cert and key"}},
		{"missing file", `{url: "nats://h:4222", nkey_seed_file: ` + missing + `}`, []string{"nats.nkey_seed_file: nkey_seed_file: cannot read"}},
		{"bad storage", `{storage: disk}`, []string{`nats.storage: unknown storage "disk" (file or memory)`}},
		{"too many replicas", `{replicas: 7}`, []string{"nats.replicas: replicas must be between 1 and 5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "data_dir: /tmp/x\nnats: " + tc.nats + "\n"
			c, err := Parse([]byte(data), env(map[string]string{"PW": "hunter2"}))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no problem reported; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems %q lack %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("a secret appears in the problems: %v", err)
			}
			_ = c
		})
	}
}

func TestNATSStorageDefault(t *testing.T) {
	c, err := Parse([]byte("data_dir: /tmp/x\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Storage != "file" {
		t.Errorf("nats.storage defaults to %q, want file", c.NATS.Storage)
	}
}
