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
// of secret-looking query parameters, a webhook's whole URL (chat
// webhooks carry their credential in the path: the URL is replaced where
// it stands whole, never its path on its own), and every value the
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
	addURL := func(raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if u.User != nil {
			p, _ := u.User.Password()
			add(p)
			if p == "" {
				add(u.User.Username()) // a token given as user name
			}
		}
		for k, vs := range u.Query() {
			if IsSecretParam(k) {
				add(vs...)
			}
		}
	}
	add(c.SMTP.Password, c.HTTP.Auth.Basic.Password, c.HTTP.Auth.BearerToken,
		c.NATS.Password, c.NATS.Token, c.WebSub.Secret, c.Feedback.Secret)
	add(c.Expanded()...)
	for _, s := range strings.Split(c.NATS.URL, ",") {
		addURL(strings.TrimSpace(s))
	}
	for _, s := range c.Sources {
		addURL(s.URL)
	}
	for _, s := range c.Subscribers {
		add(s.Secret)
		add(s.Secrets...)
		for k, v := range s.Headers {
			if !secretHeader(k) {
				continue
			}
			add(v)
			if _, tok, ok := strings.Cut(v, " "); ok {
				add(tok) // "Bearer <token>"
			}
		}
		if s.Type == "webhook" {
			if u, err := url.Parse(s.URL); err == nil && (len(u.Path) > 1 || u.RawQuery != "") {
				add(s.URL)
				// Chat webhooks carry their credential in the path
				// (/services/T…/B…/<token>): a token-like segment is a
				// secret wherever it stands alone, a path like /news is not.
				for _, seg := range strings.Split(u.Path, "/") {
					if tokenLike(seg) {
						add(seg)
					}
				}
			}
			addURL(s.URL)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
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
