package web

import (
	"bytes"
	"encoding/json"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"newswatch/config"
)

// minSecretLen is the shortest string scrubbed from responses: shorter
// values would garble pages without protecting anything worth it.
const minSecretLen = 3

// secretParams are query parameter names whose values are treated as
// credentials (compared in lower case, without '-' and '_').
var secretParams = []string{"key", "apikey", "token", "accesstoken", "authtoken", "secret", "password", "passwd", "pass", "pwd", "sig", "signature", "auth", "code", "clientsecret", "session", "sessionid", "credential", "credentials"}

func isSecretParam(name string) bool {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
	return slices.Contains(secretParams, n)
}

// RedactURL returns raw without its user info and with the values of
// secret-looking query parameters replaced; a webhook-style URL whose path
// is itself the credential should not be shown at all (see Origin).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isSecretParam(k) {
				q[k] = []string{"REDACTED"}
			}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return u.String()
}

// Origin is a URL's scheme and host only.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Secrets lists the strings of cfg that must never be served: passwords,
// tokens, webhook secrets, header values, webhook URLs (chat webhooks
// carry their credential in the path), URL credentials and secret-looking
// query values, and every value the config took from the environment or a
// file (${VAR}, ${file:PATH}), since that is where secrets are meant to
// live.
func Secrets(cfg *config.Config) []string {
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
			if isSecretParam(k) {
				add(vs...)
			}
		}
	}
	add(cfg.SMTP.Password, cfg.HTTP.Auth.Basic.Password, cfg.HTTP.Auth.BearerToken,
		cfg.NATS.Password, cfg.NATS.Token, cfg.WebSub.Secret)
	// Whatever came from the environment or a file (${VAR}, ${file:PATH}).
	add(cfg.Expanded()...)
	for _, s := range strings.Split(cfg.NATS.URL, ",") {
		addURL(strings.TrimSpace(s))
	}
	for _, s := range cfg.Sources {
		addURL(s.URL)
	}
	for _, s := range cfg.Subscribers {
		add(s.Secret)
		add(s.Secrets...)
		for _, v := range s.Headers {
			add(v)
			if _, tok, ok := strings.Cut(v, " "); ok {
				add(tok) // "Bearer <token>"
			}
		}
		if s.Type == "webhook" {
			// Everything after the origin may be the credential (chat
			// webhooks); the origin alone is shown as the target.
			if u, err := url.Parse(s.URL); err == nil && (len(u.Path) > 1 || u.RawQuery != "") {
				add(s.URL, u.RawQuery)
				if len(u.Path) > 1 {
					add(u.Path)
				}
			}
			addURL(s.URL)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

const redacted = "[redacted]"

// scrub replaces every secret in body, in the forms a template, a JSON
// encoder or a URL would give it.
func scrub(body []byte, secrets []string) []byte {
	for _, s := range secrets {
		forms := []string{s, html.EscapeString(s), template.HTMLEscapeString(s), url.QueryEscape(s), url.PathEscape(s)}
		if j, err := json.Marshal(s); err == nil {
			forms = append(forms, string(j[1:len(j)-1]))
		}
		for _, f := range forms {
			if f != "" && bytes.Contains(body, []byte(f)) {
				body = bytes.ReplaceAll(body, []byte(f), []byte(redacted))
			}
		}
	}
	return body
}

// bufferedWriter holds a response until it has been scrubbed.
type bufferedWriter struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.h }
func (b *bufferedWriter) WriteHeader(code int)        { b.code = code }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }

// scrubbing serves h with every secret removed from the response body.
func scrubbing(secrets func() []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &bufferedWriter{h: w.Header(), code: http.StatusOK}
		h.ServeHTTP(bw, r)
		body := bw.buf.Bytes()
		if secrets != nil {
			body = scrub(body, secrets())
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(bw.code)
		_, _ = w.Write(body)
	})
}
