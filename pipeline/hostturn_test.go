package pipeline

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"newswatch/config"
)

// A source that shares its host with one that hangs waits for its turn
// (fetch.per_host), and that wait is not its own slowness: once its turn
// comes it gets the whole fetch.timeout, as the fetcher promises. The
// stage bounded wait and fetch together by one fetch.timeout, so the
// healthy source failed as "timed out" for its neighbour.
func TestSourceWaitingForItsHostsTurnIsNotTimedOut(t *testing.T) {
	const timeout, answerIn = 400 * time.Millisecond, 100 * time.Millisecond
	hanging := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			hanging <- struct{}{}
			<-r.Context().Done()
			return
		}
		// A site that answers well within the timeout, but not at once.
		time.Sleep(answerIn)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`+
			`<item><guid>g1</guid><title>Fentanyl seizure</title><link>https://news.example.org/1</link></item></channel></rss>`)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(t, func(c *config.Config) {
		c.Fetch.Timeout = timeout
		c.Fetch.PerHost = 1
		c.Fetch.HostInterval = -1
		c.Sources = []config.Source{
			{ID: "hang", URL: srv.URL + "/hang", Interval: time.Minute},
			{ID: "wire", URL: srv.URL + "/feed", Interval: time.Minute},
		}
	})
	b := openBus(t, cfg)
	p, err := New(cfg, b, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan FetchResult, 1)
	go func() {
		r, _ := p.FetchNow(ctx, cfg.Sources[0])
		done <- r
	}()
	select {
	case <-hanging: // the hanging source holds the host's only turn
	case <-ctx.Done():
		t.Fatal("the hanging source was never fetched")
	}
	r, err := p.FetchNow(ctx, cfg.Sources[1])
	if err != nil || r.Err != nil || r.New != 1 {
		t.Errorf("the healthy source behind a hanging one: err %v, result %+v; want its item", err, r)
	}
	st, _ := LoadState(ctx, b.StateKV(), "wire")
	if st.Status != "ok" || st.ConsecutiveFailures != 0 {
		t.Errorf("the healthy source's state: %s, %d failures, %q; want ok", st.Status, st.ConsecutiveFailures, st.Error)
	}
	if r := <-done; r.Err == nil {
		t.Error("the hanging source did not fail")
	}
}
