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

// RedactURL returns raw as written, less its user info, its fragment and
// the values of secret-looking query parameters: nothing else is
// re-encoded, so the URL reads as it does in the config.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	rest, _, _ := strings.Cut(raw, "#")
	scheme, rest, _ := strings.Cut(rest, "://")
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		rest = rest[at+1:]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return scheme + "://" + path
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		k, _, hasValue := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && config.IsSecretParam(name) {
			params[i] = k + "=REDACTED"
		}
	}
	return scheme + "://" + path + "?" + strings.Join(params, "&")
}

const redacted = "[redacted]"

// forms are the ways s may appear in output: as is, escaped by a
// template, a JSON encoder or a URL.
func forms(s string) []string {
	fs := []string{s, html.EscapeString(s), template.HTMLEscapeString(s), url.QueryEscape(s), url.PathEscape(s)}
	if j, err := json.Marshal(s); err == nil {
		fs = append(fs, string(j[1:len(j)-1]))
	}
	slices.Sort(fs)
	return slices.Compact(fs)
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// urlChar reports whether c may continue a URL's path.
func urlChar(c byte) bool {
	return isWord(c) || strings.IndexByte("-._~/%+", c) >= 0
}

// standsAlone reports whether f at body[i:] is a whole value rather than
// part of a longer word: "/ft" in "articles/ft1.html" is not a secret that
// stood there. A preceding escape (%2F, \n, \u0026) ends a word, and a URL
// must not be followed by more of a path.
func standsAlone(body []byte, i int, f string) bool {
	j := i + len(f)
	if isWord(f[0]) && i > 0 && isWord(body[i-1]) {
		escaped := i >= 2 && body[i-2] == '\\' ||
			i >= 3 && body[i-3] == '%' && isHex(body[i-2]) && isHex(body[i-1]) ||
			i >= 6 && body[i-6] == '\\' && body[i-5] == 'u'
		if !escaped {
			return false
		}
	}
	if j < len(body) {
		last := f[len(f)-1]
		if isWord(last) && isWord(body[j]) {
			return false
		}
		if strings.Contains(f, "://") && urlChar(body[j]) {
			return false
		}
	}
	return true
}

// scrub replaces every secret in body, in the forms a template, a JSON
// encoder or a URL would give it, where it stands as a value of its own.
func scrub(body []byte, secrets []string) []byte {
	for _, s := range secrets {
		for _, f := range forms(s) {
			if f == "" || !bytes.Contains(body, []byte(f)) {
				continue
			}
			var out []byte
			rest, off := body, 0
			for {
				k := bytes.Index(rest, []byte(f))
				if k < 0 {
					break
				}
				if standsAlone(body, off+k, f) {
					out = append(out, rest[:k]...)
					out = append(out, redacted...)
				} else {
					out = append(out, rest[:k+len(f)]...)
				}
				rest, off = rest[k+len(f):], off+k+len(f)
			}
			body = append(out, rest...)
		}
	}
	return body
}

// Scrub returns s without the secrets, as the server does to responses;
// the daemon's log uses it too.
func Scrub(s string, secrets []string) string { return string(scrub([]byte(s), secrets)) }

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
