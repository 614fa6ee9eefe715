package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"newswatch/config"
)

// Enabled reports whether a config asks for authentication.
func authEnabled(a config.HTTPAuth) bool {
	return a.BearerToken != "" || a.Basic.Username != ""
}

// equal compares two secrets in constant time (whatever their lengths).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// authorized reports whether r carries valid credentials for a.
func authorized(a config.HTTPAuth, r *http.Request) bool {
	if !authEnabled(a) {
		return true
	}
	if a.BearerToken != "" {
		if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(tok), a.BearerToken) {
			return true
		}
	}
	if a.Basic.Username != "" {
		if u, p, ok := r.BasicAuth(); ok {
			// Both compared, always, so timing does not tell which failed.
			uok, pok := equal(u, a.Basic.Username), equal(p, a.Basic.Password)
			return uok && pok
		}
	}
	return false
}

// requireAuth guards h with the auth settings in force (read on every
// request, so a reload takes effect at once). /healthz stays open.
func requireAuth(auth func() config.HTTPAuth, open []string, h http.Handler) http.Handler {
	if auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := auth()
		if r.URL.Path == "/healthz" || isOpen(open, r.URL.Path) || authorized(a, r) {
			h.ServeHTTP(w, r)
			return
		}
		if a.Basic.Username != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="newswatch", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="newswatch"`)
		}
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

// isOpen reports whether path is under a prefix that authenticates its
// requests itself (WebSub callbacks are signed by the hub).
func isOpen(open []string, path string) bool {
	for _, p := range open {
		if p != "/" && p != "" && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
