package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/logtest"
)

// runDaemon runs p with every role until the returned stop is called;
// stop waits for Run to return.
func runDaemon(t *testing.T, p *Pipeline) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, AllRoles) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestDaemonAloneHandsJobsOverInMemory: a daemon whose bus alone reaches
// its store (bus.Exclusive) used to poll each source through a job
// message on the fetch stream and a claim written before the state: two
// state writes and a job per poll. Alone, jobs go to the fetch workers in
// memory and no claim is written. With nats.listen set, other processes
// may share the store: jobs and claims stay.
func TestDaemonAloneHandsJobsOverInMemory(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen bool
	}{
		{"alone", false},
		{"listening", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t)
			f.add("Weather: sunny")
			cfg := testConfig(t, func(c *config.Config) {
				c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Second}}
				if tc.listen {
					c.NATS.Listen = freeLoopbackAddr(t)
				}
			})
			b := openBus(t, cfg)
			if b.Exclusive() == tc.listen {
				t.Fatalf("Exclusive() = %v with listen %v", b.Exclusive(), tc.listen)
			}
			p := newPipeline(t, cfg, b)
			stop := runDaemon(t, p)
			waitFor(t, 20*time.Second, func() bool { return f.hits.Load() >= 4 })
			stop() // the fetch in flight, if any, is saved first

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			writes, err := b.StateKV().LastRevision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			polls := uint64(f.hits.Load())
			jobs, err := b.StreamState(ctx, b.Names.FetchStream)
			if err != nil {
				t.Fatal(err)
			}
			if tc.listen {
				if writes != 2*polls {
					t.Errorf("%d polls wrote the state %d times, want a claim and a save each", polls, writes)
				}
				if jobs.LastSeq < polls {
					t.Errorf("fetch stream took %d jobs for %d polls, want one per poll", jobs.LastSeq, polls)
				}
			} else {
				if writes >= polls {
					t.Errorf("%d polls wrote the state %d times, want fewer: no claims, unchanged polls kept in memory", polls, writes)
				}
				if jobs.LastSeq != 0 {
					t.Errorf("fetch stream took %d jobs, want none: the jobs stay in memory", jobs.LastSeq)
				}
			}
			st, err := LoadState(ctx, b.StateKV(), "wire")
			if err != nil || st.Status != "ok" || st.Claim != nil || st.LastFetch.IsZero() {
				t.Errorf("state = %+v, %v; want saved, unclaimed", st, err)
			}
			for _, fault := range b.Health.Faults() {
				t.Errorf("fault: %+v", fault)
			}
		})
	}
}

// TestAloneUnchangedPollsAreWrittenAtMostEvery: alone on its store, the
// daemon writes a poll that changed nothing but its times only when the
// stored state is writeEvery old; a poll that changed anything else is
// written at once (TestAloneDaemonWritesKeptStatesAtStop).
func TestAloneUnchangedPollsAreWrittenAtMostEvery(t *testing.T) {
	f := newFeed(t)
	f.add("Weather: sunny")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: time.Second}}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	p.fetch.writeEvery = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kv := b.StateKV()
	stored := func() (SourceState, uint64) {
		t.Helper()
		st, rev, err := readState(ctx, kv, "wire")
		if err != nil {
			t.Fatal(err)
		}
		return st, rev
	}
	runDaemon(t, p)

	// Unchanged polls: the first is written, then one every writeEvery.
	waitFor(t, 20*time.Second, func() bool { _, rev := stored(); return rev >= 1 })
	start, first := time.Now(), f.hits.Load()
	waitFor(t, 20*time.Second, func() bool { return f.hits.Load() >= first+6 })
	polls, elapsed := f.hits.Load()-first, time.Since(start)
	st, rev := stored()
	if max := uint64(1 + elapsed/p.fetch.writeEvery + 1); rev > max || rev < 2 {
		t.Errorf("%d unchanged polls in %s wrote the state %d times, want 2 to %d", polls, elapsed.Round(time.Millisecond), rev, max)
	}
	if age := time.Since(st.LastFetch); age > p.fetch.writeEvery+2*time.Second {
		t.Errorf("stored last fetch is %s old, want at most writeEvery and a poll", age)
	}

	for _, fault := range b.Health.Faults() {
		t.Errorf("fault: %+v", fault)
	}
}

// TestAloneDaemonWritesKeptStatesAtStop: alone on its store, the daemon
// writes a poll that found something new at once, leaves unchanged polls
// unwritten (here for an hour), and writes them when it stops, so that a
// restart finds each source's last poll.
func TestAloneDaemonWritesKeptStatesAtStop(t *testing.T) {
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
	kv := b.StateKV()
	stored := func() (SourceState, uint64) {
		t.Helper()
		st, rev, err := readState(ctx, kv, "wire")
		if err != nil {
			t.Fatal(err)
		}
		return st, rev
	}
	morePolls := func(n int64) {
		t.Helper()
		polls := f.hits.Load()
		waitFor(t, 20*time.Second, func() bool { return f.hits.Load() >= polls+n })
	}
	stop := runDaemon(t, p)
	waitFor(t, 20*time.Second, func() bool { _, rev := stored(); return rev == 1 })
	morePolls(3)
	if _, rev := stored(); rev != 1 {
		t.Fatalf("state at revision %d after unchanged polls, want 1: the first poll alone written", rev)
	}

	f.add("Fentanyl seizure at the port")
	waitFor(t, 10*time.Second, func() bool { st, _ := stored(); return st.ItemsSeen == 2 })
	written, rev := stored()
	if rev != 2 {
		t.Errorf("state at revision %d after a poll with a new item, want 2", rev)
	}
	morePolls(3)
	if _, rev := stored(); rev != 2 {
		t.Fatalf("state at revision %d after unchanged polls, want 2", rev)
	}

	stop()
	st, rev := stored()
	if rev != 3 {
		t.Errorf("state at revision %d after stop, want 3: the last poll written", rev)
	}
	if !st.LastFetch.After(written.LastFetch) || !st.NextDue.After(st.LastFetch) || st.Status != "ok" || st.ItemsSeen != 2 {
		t.Errorf("state after stop = %+v, want the last poll's (the new item's poll at %s)", st, written.LastFetch)
	}
}

// TestAloneJobsFetchASourceOnceAtATime: without claims, two jobs for one
// source at once (a job run again while the first still fetches) must
// still not fetch it twice at once, and a job for a source fetched since
// it fell due is done without a fetch.
func TestAloneJobsFetchASourceOnceAtATime(t *testing.T) {
	feed := newHeldFeed(t)
	srv, release, most, hits := feed.Server, feed.release, &feed.most, &feed.hits
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "one", URL: srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	if b.StateLocal() == nil {
		t.Fatal("an embedded bus without nats.listen has no StateLocal")
	}
	p := newPipeline(t, cfg, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job := fetchJob{Source: "one", Due: time.Now().Add(-time.Second)}
	var wg sync.WaitGroup
	retries := make([]bool, 2)
	for i := range retries {
		wg.Go(func() { retries[i], _ = p.fetch.runJob(ctx, job, p.lookupSource) })
	}
	waitFor(t, 10*time.Second, func() bool { return hits.Load() >= 1 })
	time.Sleep(300 * time.Millisecond) // the second job, if it fetched, would be in by now
	close(release)
	wg.Wait()
	if most.Load() != 1 || hits.Load() != 1 {
		t.Errorf("source fetched %d times, %d at once; want once", hits.Load(), most.Load())
	}
	if retries[0] == retries[1] {
		t.Errorf("jobs to run again: %v, want the one that found the source busy", retries)
	}
	// The job that found it busy comes back: the source was fetched
	// since the job fell due, and it is done without a fetch.
	if again, _ := p.fetch.runJob(ctx, job, p.lookupSource); again || hits.Load() != 1 {
		t.Errorf("job run again after the fetch: again %v, %d fetches; want done, 1 fetch", again, hits.Load())
	}
	// A fetch by another path (FetchNow) takes the same lock.
	if !b.StateLocal().TryLock("one") {
		t.Fatal("source still locked after its jobs")
	}
	_, err := p.FetchNow(ctx, cfg.Sources[0])
	b.StateLocal().Unlock("one")
	if err == nil {
		t.Error("FetchNow of a source a job holds: no error, want ErrSourceBusy")
	}
}

// TestAloneDaemonSeesOtherWritesOfItsState: the daemon alone on its store
// saves a source's state at the revision it last wrote instead of reading
// it per poll. A write by anything else in the process (here the test)
// reaches it through the scheduler's watch: the next poll saves on top
// of it, no store fault, nothing of it lost.
func TestAloneDaemonSeesOtherWritesOfItsState(t *testing.T) {
	f := newFeed(t)
	f.add("Weather: sunny")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "wire", URL: f.srv.URL, Interval: 2 * time.Second}}
	})
	b := openBus(t, cfg)
	var logs logtest.Buffer
	p, err := New(cfg, b, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv := b.StateKV()
	var rev uint64
	waitFor(t, 20*time.Second, func() bool {
		_, rev, _ = readState(ctx, kv, "wire")
		return rev > 0
	})
	// Right after a save, the next poll is about two seconds away.
	st, _, err := readState(ctx, kv, "wire")
	if err != nil {
		t.Fatal(err)
	}
	st.ItemsSeen = 777
	if err := saveState(ctx, kv, st); err != nil {
		t.Fatal(err)
	}
	polls := f.hits.Load()
	waitFor(t, 20*time.Second, func() bool {
		got, _ := LoadState(ctx, kv, "wire")
		return f.hits.Load() > polls && got.LastFetch.After(st.LastFetch)
	})
	got, err := LoadState(ctx, kv, "wire")
	if err != nil || got.ItemsSeen != 777 || got.Status != "ok" {
		t.Errorf("state after the next poll = %+v, %v; want the other write's count kept", got, err)
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") {
		t.Errorf("errors logged; logs:\n%s", out)
	}
}

func TestOnlyTimesChanged(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	prev := SourceState{ID: "s", URL: "https://e.org/", Status: "ok", HTTPStatus: 304, ETag: `"a"`,
		LastFetch: now, LastSuccess: now, NextDue: now.Add(5 * time.Second), ItemsSeen: 3, NotModified: 7}
	for _, tc := range []struct {
		name   string
		change func(*SourceState)
		want   bool
	}{
		{"times and not_modified", func(s *SourceState) {
			s.LastFetch, s.LastSuccess, s.NextDue = now.Add(5*time.Second), now.Add(5*time.Second), now.Add(10*time.Second)
			s.NotModified++
		}, true},
		{"a claim", func(s *SourceState) { s.Claim = &FetchClaim{Holder: "x"} }, true},
		{"new items", func(s *SourceState) { s.ItemsSeen++ }, false},
		{"validator", func(s *SourceState) { s.ETag = `"b"` }, false},
		{"last-modified", func(s *SourceState) { s.LastModified = "Thu, 03 Dec 2026 12:00:00 GMT" }, false},
		{"http status", func(s *SourceState) { s.HTTPStatus = 200 }, false},
		{"status", func(s *SourceState) { s.Status, s.Error = "error", "boom" }, false},
		{"failures", func(s *SourceState) { s.ConsecutiveFailures = 1 }, false},
		{"failing since", func(s *SourceState) { s.FailingSince = now }, false},
		{"url", func(s *SourceState) { s.URL = "https://e.org/new" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := prev
			tc.change(&next)
			if got := onlyTimesChanged(prev, next); got != tc.want {
				t.Errorf("onlyTimesChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAloneStopStartsNoQueuedJob: at stop, the daemon's fetch workers
// finish the fetch in flight but start none of the jobs still queued in
// memory. They used to work through the whole queue first (hundreds of
// sources, when the workers were behind), past the shutdown timeout
// after which the bus is closed: the polls kept in memory were then
// never written. A job left in the queue is lost with nothing: its
// source's stored next due time is past, and the next start polls it.
func TestAloneStopStartsNoQueuedJob(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprintf(w, `<rss version="2.0"><channel><title>t</title><item><guid>%s</guid><title>x</title></item></channel></rss>`, r.URL.Path)
	}))
	defer srv.Close()
	cfg := testConfig(t, func(c *config.Config) {
		for _, id := range []string{"a", "b", "c"} {
			c.Sources = append(c.Sources, config.Source{ID: id, URL: srv.URL + "/" + id, Interval: time.Minute})
		}
	})
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	q := newJobQueue()
	for _, src := range cfg.Sources {
		q.push(fetchJob{Source: src.ID, Due: time.Now().Add(-time.Second)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.fetch.runLocal(ctx, 1, q, p.lookupSource, func(string, time.Time, time.Duration) {})
	}()
	waitFor(t, 10*time.Second, func() bool { return hits.Load() == 1 })
	cancel()
	close(release)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("fetch workers did not return after stop")
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d fetches after stop was asked during the first, want that one only", n)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	saved := 0
	for _, src := range cfg.Sources {
		if st, err := LoadState(lctx, b.StateKV(), src.ID); err == nil && !st.LastFetch.IsZero() {
			saved++
		}
	}
	if saved != 1 {
		t.Errorf("%d sources saved, want the one in flight at stop", saved)
	}
}

// TestAloneWorkerSurvivesAPanickingJob: a job that panics (a bug, met
// on one source) costs that job a minute's delay and an ERROR with the
// stack, as a fetch job message does in bus.Loop, not the process: a
// daemon that crashed on it would meet it again at every start, the
// source being due at once. Its source is unlocked and the worker goes
// on with the next job.
func TestAloneWorkerSurvivesAPanickingJob(t *testing.T) {
	bad, good := newFeed(t), newFeed(t)
	bad.add("Weather: sunny")
	good.add("Weather: rain")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "bad", URL: bad.srv.URL, Interval: time.Minute}, {ID: "good", URL: good.srv.URL, Interval: time.Minute}}
	})
	b := openBus(t, cfg)
	var logs logtest.Buffer
	p, err := New(cfg, b, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler is told each poll's outcome while the fetch holds its
	// source: the bug strikes there, with the source locked.
	tell := func(source string, _ time.Time) {
		if source == "bad" {
			panic("bug met on source bad")
		}
	}
	p.fetch.alone.Store(&tell)
	type retry struct {
		source string
		d      time.Duration
	}
	retries := make(chan retry, 4)
	q := newJobQueue()
	due := time.Now().Add(-time.Second)
	q.push(fetchJob{Source: "bad", Due: due})
	q.push(fetchJob{Source: "good", Due: due})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.fetch.runLocal(ctx, 1, q, p.lookupSource, func(source string, _ time.Time, d time.Duration) { retries <- retry{source, d} })
	}()
	defer func() { cancel(); <-done }()
	select {
	case r := <-retries:
		if r.source != "bad" || r.d < 30*time.Second {
			t.Errorf("job run again: %+v, want bad's after about a minute", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job that panicked is not run again")
	}
	waitFor(t, 10*time.Second, func() bool { return good.hits.Load() == 1 })
	if !b.StateLocal().TryLock("bad") {
		t.Error("source still locked after its job panicked")
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "bug met on source bad") || !strings.Contains(out, "goroutine") {
		t.Errorf("panic not logged at ERROR with its stack; logs:\n%s", out)
	}
}

// TestAloneUnwrittenPollKeepsAStoreFault: alone on its store, a poll
// that changed only its times is not written. It used to clear the
// store.write fault all the same, as a job whose writes all worked: one
// source's write failing and the next unchanged poll of any other
// source clearing it, /readyz went ready again while no state could be
// written. A fault is cleared by a write that worked, and only by that.
func TestAloneUnwrittenPollKeepsAStoreFault(t *testing.T) {
	busy, quiet := newFeed(t), newFeed(t)
	busy.add("Weather: sunny")
	quiet.add("Weather: rain")
	cfg := testConfig(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "busy", URL: busy.srv.URL, Interval: time.Second}, {ID: "quiet", URL: quiet.srv.URL, Interval: time.Second}}
	})
	b := openBus(t, cfg)
	var logs logtest.Buffer
	p, err := New(cfg, b, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.fetch.writeEvery = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runDaemon(t, p)
	written := func(id string) bool {
		_, rev, err := readState(ctx, b.StateKV(), id)
		return err == nil && rev > 0
	}
	waitFor(t, 20*time.Second, func() bool { return written("busy") && written("quiet") })
	polls := quiet.hits.Load()
	waitFor(t, 20*time.Second, func() bool { return quiet.hits.Load() >= polls+2 }) // unchanged polls, unwritten

	// The state bucket goes: no state can be written from now on.
	if err := b.JS.DeleteStream(ctx, "KV_"+b.Names.StateBucket); err != nil {
		t.Fatal(err)
	}
	busy.add("Fentanyl seizure at the port") // a poll that must be written
	waitFor(t, 20*time.Second, func() bool { return hasFault(b, fetchWriteFault) })
	seen := len(logs.String())
	polls = quiet.hits.Load()
	waitFor(t, 20*time.Second, func() bool { return quiet.hits.Load() >= polls+3 })
	if after := logs.String()[seen:]; strings.Contains(after, "store writes work again") {
		t.Errorf("store write fault cleared by polls that wrote nothing; logs since the fault:\n%s", after)
	}
	if !hasFault(b, fetchWriteFault) {
		t.Error("no store write fault while no state can be written")
	}
}
