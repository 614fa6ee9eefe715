package fetchtest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServer(t *testing.T) {
	s := NewServer(Options{Feeds: 3, Items: 5, ItemBytes: 200})
	defer s.Close()
	get := func(i int, etag string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", s.URL(i), nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get(1, "")
	if resp.StatusCode != 200 || !bytes.Equal(body, s.Body(1)) {
		t.Fatalf("status %d, body differs from Body(1)", resp.StatusCode)
	}
	if n := strings.Count(string(body), "<item>"); n != 5 || !strings.Contains(string(body), "synthetic-1-0-4") {
		t.Errorf("%d items, or feed id not spliced in", n)
	}
	if bytes.Equal(s.Body(0), s.Body(1)) {
		t.Error("feeds 0 and 1 are identical")
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := get(1, etag); resp.StatusCode != 304 {
		t.Errorf("conditional request: %d, want 304", resp.StatusCode)
	}
	s.Touch()
	resp, touched := get(1, etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Errorf("after Touch: %d, ETag %s (was %s): want a 200 under a new ETag", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	// One new item in place of the first; the others as before.
	if !strings.Contains(string(touched), "synthetic-1-0-0t1<") || strings.Contains(string(touched), "synthetic-1-0-0<") ||
		!bytes.Equal(bytes.ReplaceAll(touched, []byte("-0t1"), []byte("-0")), body) {
		t.Errorf("after Touch the first item is not the only new one:\n%s", touched)
	}
	etag = resp.Header.Get("ETag")
	s.Bump()
	if resp, body := get(1, etag); resp.StatusCode != 200 || !strings.Contains(string(body), "synthetic-1-1-0") {
		t.Errorf("after Bump: %d", resp.StatusCode)
	}
	if resp, _ := get(7, ""); resp.StatusCode != 404 {
		t.Errorf("unknown feed: %d", resp.StatusCode)
	}
	if req, notMod, _ := s.Stats(); req != 5 || notMod != 1 {
		t.Errorf("stats: %d requests, %d not modified", req, notMod)
	}
	if len(s.Sources()) != 3 || s.Sources()[2].URL != s.URL(2) {
		t.Error("Sources")
	}
}
