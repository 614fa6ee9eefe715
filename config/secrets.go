package config

import (
	"net/url"
	"slices"
	"strings"
)

// minSecretLen is the shortest value scrubbed from output: a shorter one
// (a port, a page number, "/news") occurs in unrelated text far too often,
// and scrubbing it would garble pages and logs without protecting much.
const minSecretLen = 6

// secretParams are query parameter names whose values are treated as
// credentials (compared in lower case, without '-' and '_').
var secretParams = []string{"key", "apikey", "token", "accesstoken", "authtoken", "secret", "password", "passwd", "pass", "pwd", "sig", "signature", "auth", "code", "clientsecret", "session", "sessionid", "credential", "credentials"}

// IsSecretParam reports whether a URL query parameter of this name
// carries a credential.
func IsSecretParam(name string) bool {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
	return slices.Contains(secretParams, n)
}

// secretHeader reports whether a header of a subscriber carries a
// credential (its value is then a secret, whatever its length).
func secretHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "token", "key", "secret", "signature", "password", "cookie", "session", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Secrets lists the values of c that must never be shown: passwords,
// tokens, signing secrets, credential header values, the password of a
// URL's user info (or its user name when that is the token), the values
// of secret-looking query parameters, the secrets of each sink kind's
// keys (sinkKind.secrets: a webhook's signing secrets and its whole URL),
// and every value the
// config took from the environment or a file (${VAR}, ${file:PATH}),
// since that is where secrets are meant to live. Values shorter than
// minSecretLen are left out.
func (c *Config) Secrets() []string {
	var out []string
	add := func(s ...string) {
		for _, v := range s {
			if len(v) >= minSecretLen {
				out = append(out, v)
			}
		}
	}
	add(c.SMTP.Password, c.HTTP.Auth.Basic.Password, c.HTTP.Auth.BearerToken,
		c.NATS.Password, c.NATS.Token, c.WebSub.Secret, c.Feedback.Secret)
	add(c.Expanded()...)
	for _, s := range strings.Split(c.NATS.URL, ",") {
		add(urlSecrets(strings.TrimSpace(s))...)
	}
	for _, s := range c.Sources {
		add(urlSecrets(s.URL)...)
	}
	for _, s := range c.Subscribers {
		for _, k := range sinkKinds {
			add(k.secrets(s)...)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// urlSecrets are the credentials in a URL: the password of its user info
// (or its user name when that is the token) and the values of
// secret-looking query parameters.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		p, _ := u.User.Password()
		out = append(out, p)
		if p == "" {
			out = append(out, u.User.Username()) // a token given as user name
		}
	}
	for k, vs := range u.Query() {
		if IsSecretParam(k) {
			out = append(out, vs...)
		}
	}
	return out
}

// tokenLike reports whether a URL path segment looks like a credential:
// long, with letters and digits.
func tokenLike(seg string) bool {
	if len(seg) < 16 {
		return false
	}
	letters, digits := false, false
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters = true
		}
	}
	return letters && digits
}
