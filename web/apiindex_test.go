package web

import (
	"context"
	"net/http"
	"testing"

	"newswatch/config"
	"newswatch/metrics"
)

// GET /api and /api/ list the API routes registered, whoever registered
// them, each with its method and a line of words; behind http.auth.
func TestAPIIndex(t *testing.T) {
	extra := map[string]http.Handler{"GET /api/topics/{id}/series": http.NotFoundHandler(), "GET /topics/{id}": http.NotFoundHandler()}
	s := New(metrics.New(), nil, discard(), WithStatus(ownRoutesBackend{}), WithFaults(func() []Fault { return nil }),
		WithReload(func(context.Context) error { return nil }), WithPages(extra),
		WithAuth(func() config.HTTPAuth { return config.HTTPAuth{BearerToken: "index-token-1234"} }))
	h := s.Handler()
	for _, path := range []string{"/api", "/api/"} {
		if rec := get(t, h, path); rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without auth = %d, want 401", path, rec.Code)
		}
		rec := get(t, h, path, "Authorization", "Bearer index-token-1234")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s = %d %s\n%s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var index struct{ Endpoints []endpoint }
		decode(t, rec, &index)
		got := map[string]string{}
		for _, e := range index.Endpoints {
			got[e.Method+" "+e.Path] = e.Description
		}
		for _, want := range []string{"GET /api", "GET /api/sources", "GET /api/alerts", "GET /api/deadletters", "GET /api/feedback",
			"GET /api/problems", "GET /api/topics/{id}/series", "POST /-/reload"} {
			if got[want] == "" {
				t.Errorf("GET %s: %s is not listed with a description: %v", path, want, index.Endpoints)
			}
		}
		for _, not := range []string{"GET /", "GET /readyz", "GET /topics/{id}", "GET /api/", "GET /healthz"} {
			if _, ok := got[not]; ok {
				t.Errorf("GET %s lists %s, which is no API route", path, not)
			}
		}
	}
	if rec := get(t, h, "/api/nothing-here", "Authorization", "Bearer index-token-1234"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /api/nothing-here = %d, want 404", rec.Code)
	}
}
