package config

import (
	"strings"
	"testing"
)

// Listening beyond loopback without auth is refused unless
// http.insecure_no_auth says it is meant.
func TestExposedWithoutAuth(t *testing.T) {
	for _, tc := range []struct {
		http string
		want bool
	}{
		{`{listen: "127.0.0.1:8080"}`, false},
		{`{listen: "[::1]:8080"}`, false},
		{`{listen: "localhost:8080"}`, false},
		{`{listen: ""}`, false},
		{`{listen: "0.0.0.0:8080"}`, true},
		{`{listen: ":8080"}`, true},
		{`{listen: "[::]:8080"}`, true},
		{`{listen: "192.0.2.10:8080"}`, true},
		{`{listen: "status.example.org:8080"}`, true},
		{`{listen: "0.0.0.0:8080", auth: {bearer_token: tok-123456}}`, false},
		{`{listen: "0.0.0.0:8080", auth: {basic: {username: ops, password: pw-123456}}}`, false},
		{`{listen: "0.0.0.0:8080", insecure_no_auth: true}`, false},
	} {
		cfg := "http: " + tc.http + "\ntopics: [{id: t, query: x}]\n"
		_, err := Parse([]byte(cfg), func(string) (string, bool) { return "", false })
		got := err != nil && strings.Contains(err.Error(), "http.insecure_no_auth")
		if got != tc.want {
			t.Errorf("http: %s: refused = %v, want %v (err: %v)", tc.http, got, tc.want, err)
		}
	}
}
