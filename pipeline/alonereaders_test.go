package pipeline

import (
	"context"
	"testing"
	"time"

	"newswatch/config"
)

// TestAloneReadersSeeTheLastPoll: a daemon alone on its store leaves
// unchanged polls unwritten (here for an hour); the status page and
// /api/sources read the states through SourceStates, which used to be
// the store's alone: a source polled every second showed its first poll
// and a next fetch long past. They now show the last poll.
func TestAloneReadersSeeTheLastPoll(t *testing.T) {
	f := newFeed(t)
	f.add("Weather: sunny")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Second}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	p.fetch.writeEvery = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runDaemon(t, p)
	waitFor(t, 20*time.Second, func() bool { _, rev, _ := readState(ctx, b.StateKV(), "wire"); return rev == 1 })
	polls := f.hits.Load()
	waitFor(t, 20*time.Second, func() bool { return f.hits.Load() >= polls+3 })

	stored, rev, err := readState(ctx, b.StateKV(), "wire")
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1 {
		t.Fatalf("state at revision %d after unchanged polls, want 1 (the rest unwritten)", rev)
	}
	states, err := p.SourceStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := states["wire"]
	if !st.LastFetch.After(stored.LastFetch) || !st.NextDue.After(stored.NextDue) || st.Status != "ok" {
		t.Errorf("SourceStates shows last fetch %s, next due %s, status %q; want a later poll than the stored one (%s, %s)",
			st.LastFetch, st.NextDue, st.Status, stored.LastFetch, stored.NextDue)
	}
	if st.Claim != nil || st.ItemsSeen != stored.ItemsSeen {
		t.Errorf("SourceStates = %+v, want the stored state with the last poll's times", st)
	}
}
