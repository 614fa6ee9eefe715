package main

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/fetcher"
)

// TestExplainURLFetchesThroughTheFetcher: explain URL decodes gzip and
// deflate and enforces the body cap after decompression, like a source's
// fetch; a too large body is an error, not a silently cut document.
func TestExplainURLFetchesThroughTheFetcher(t *testing.T) {
	const limit = 1000
	small := []byte("Fentanyl talks\nTalks on fentanyl precursors resumed on Tuesday.\n")
	big := bytes.Repeat([]byte("fentanyl "), 2*limit/9+1)
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	deflate := func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	routes := map[string]struct {
		encoding string
		body     []byte
	}{
		"/gzip":      {"gzip", gz(small)},
		"/deflate":   {"deflate", deflate(small)},
		"/plain-big": {"", big},
		"/gzip-big":  {"gzip", gz(big)},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		if rt.encoding != "" {
			w.Header().Set("Content-Encoding", rt.encoding)
		}
		_, _ = w.Write(rt.body)
	}))
	defer srv.Close()
	if len(gz(big)) >= limit {
		t.Fatalf("the compressed big body (%d bytes) must fit the cap", len(gz(big)))
	}

	cfg := &config.Config{}
	cfg.ApplyDefaults()
	cfg.Fetch.MaxBodyBytes = limit
	cfg.Fetch.Timeout = 5 * time.Second
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, tc := range []struct {
		path    string
		want    []byte
		wantErr error
	}{
		{"/gzip", small, nil},
		{"/deflate", small, nil},
		{"/plain-big", nil, fetcher.ErrTooLarge},
		{"/gzip-big", nil, fetcher.ErrTooLarge},
		{"/missing", nil, &fetcher.StatusError{}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			body, ct, base, err := readInput(ctx, env, cfg, srv.URL+tc.path)
			var se *fetcher.StatusError
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("error: %v", err)
			case errors.As(tc.wantErr, &se):
				if !errors.As(err, &se) || se.Code != http.StatusNotFound {
					t.Fatalf("error %v, want a 404 StatusError", err)
				}
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v (body %d bytes), want %v", err, len(body), tc.wantErr)
			case tc.wantErr == nil:
				if !bytes.Equal(body, tc.want) || ct != "text/plain" || base != srv.URL+tc.path {
					t.Errorf("got %q, %q, %q", body, ct, base)
				}
			}
		})
	}
}
