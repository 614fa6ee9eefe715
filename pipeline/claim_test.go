package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/fetcher/fetchtest"
	"newswatch/internal/logtest"

	"github.com/nats-io/nats.go"
)

// kvWrites is how many writes the state and store buckets have taken.
func kvWrites(t *testing.T, ctx context.Context, b *bus.Bus) uint64 {
	t.Helper()
	var n uint64
	for _, bucket := range []string{b.Names.StateBucket, b.Names.StoreBucket} {
		st, err := b.StreamState(ctx, "KV_"+bucket)
		if err != nil {
			t.Fatal(err)
		}
		n += st.LastSeq
	}
	return n
}

// A fetch of an unchanged feed used to cost a lease taken and given back
// in the store on top of the state's own write: three writes. The claim
// rides on the state's revision: two.
func TestUnchangedFetchCostsTwoWrites(t *testing.T) {
	srv := fetchtest.NewServer(fetchtest.Options{Feeds: 1, Items: 3})
	defer srv.Close()
	cfg := testConfig(t, func(c *config.Config) { c.Sources = srv.Sources() })
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r, err := p.FetchNow(ctx, cfg.Sources[0]); err != nil || r.New != 3 {
		t.Fatalf("first fetch = %+v, %v", r, err)
	}
	before := kvWrites(t, ctx, b)
	r, err := p.FetchNow(ctx, cfg.Sources[0])
	if err != nil || !r.NotModified {
		t.Fatalf("second fetch = %+v, %v; want a 304", r, err)
	}
	if n := kvWrites(t, ctx, b) - before; n > 2 {
		t.Errorf("an unchanged fetch wrote %d times to the store, want at most 2 (claim, save)", n)
	}
	st, err := LoadState(ctx, b.StateKV(), cfg.Sources[0].ID)
	if err != nil || st.Claim != nil || st.NotModified != 1 || st.Status != "ok" {
		t.Errorf("state after the fetch = %+v, %v; want saved, unclaimed", st, err)
	}
}

// Two stages (two replicas) that read a source's state at the same
// revision race to claim it: exactly one wins, whether the source had a
// state or not.
func TestTwoStagesRaceToClaim(t *testing.T) {
	cfg := testConfig(t, nil)
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name  string
		state bool
	}{{"no state yet", false}, {"stored state", true}} {
		t.Run(tc.name, func(t *testing.T) {
			kv := b.StateKV()
			id := "race-" + map[bool]string{false: "new", true: "old"}[tc.state]
			if tc.state {
				if err := saveState(ctx, kv, SourceState{ID: id, Status: "ok"}); err != nil {
					t.Fatal(err)
				}
			}
			type read struct {
				st  SourceState
				rev uint64
			}
			var reads [2]read
			for i := range reads {
				st, rev, err := readState(ctx, kv, id)
				if err != nil {
					t.Fatal(err)
				}
				reads[i] = read{st, rev}
			}
			var wg sync.WaitGroup
			claims := make([]*claim, 2)
			errs := make([]error, 2)
			start := make(chan struct{})
			for i := range reads {
				wg.Go(func() {
					<-start
					claims[i], errs[i] = claimState(ctx, kv, id, reads[i].st, reads[i].rev)
				})
			}
			close(start)
			wg.Wait()
			won, busy := 0, 0
			for i, err := range errs {
				switch {
				case err == nil && claims[i] != nil:
					won++
				case errors.Is(err, ErrSourceBusy):
					busy++
				default:
					t.Errorf("claim %d: %v", i, err)
				}
			}
			if won != 1 || busy != 1 {
				t.Fatalf("%d claims won and %d were told busy, want 1 and 1", won, busy)
			}
			// A third stage that reads now sees the claim and stays out.
			st, rev, err := readState(ctx, kv, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := claimState(ctx, kv, id, st, rev); !errors.Is(err, ErrSourceBusy) {
				t.Errorf("claim of a claimed source: err = %v, want ErrSourceBusy", err)
			}
		})
	}
}

// A claim whose holder stalled past its expiry is taken over; the stalled
// holder can then neither renew nor save over the new holder's state.
func TestExpiredClaimIsTakenOver(t *testing.T) {
	ctx, _, kv := stateBucket(t)
	const id = "stalled"
	if err := saveState(ctx, kv, SourceState{ID: id, Status: "ok", ItemsSeen: 1}); err != nil {
		t.Fatal(err)
	}
	st, rev, _ := readState(ctx, kv, id)
	old, err := claimState(ctx, kv, id, st, rev)
	if err != nil {
		t.Fatal(err)
	}
	// Age the claim as if its holder had stalled past leaseTTL since its
	// last renewal (which this write stands for).
	st, rev, _ = readState(ctx, kv, id)
	if st.Claim == nil || st.Claim.Holder != old.token {
		t.Fatalf("stored claim = %+v, want the holder's", st.Claim)
	}
	st.Claim.Until = time.Now().Add(-time.Second)
	data, _ := json.Marshal(st)
	if old.rev, err = kv.Update(ctx, id, data, rev); err != nil {
		t.Fatal(err)
	}

	st, rev, _ = readState(ctx, kv, id)
	taker, err := claimState(ctx, kv, id, st, rev)
	if err != nil {
		t.Fatalf("claim of an expired claim: %v", err)
	}
	if err := old.renew(ctx); !bus.Conflict(err) {
		t.Errorf("renew of a lost claim: err = %v, want a conflict", err)
	}
	if err := old.save(ctx, SourceState{ID: id, Status: "error", ItemsSeen: 99}); !errors.Is(err, ErrSourceBusy) {
		t.Errorf("save of a lost claim: err = %v, want ErrSourceBusy", err)
	}
	old.release(ctx)
	if err := taker.save(ctx, SourceState{ID: id, Status: "ok", ItemsSeen: 2}); err != nil {
		t.Fatalf("save of the new holder: %v", err)
	}
	taker.release(ctx) // after a save: a no-op
	got, err := LoadState(ctx, kv, id)
	if err != nil || got.ItemsSeen != 2 || got.Claim != nil {
		t.Errorf("state = %+v, %v; want the new holder's, unclaimed", got, err)
	}
}

// A claim given back without a save leaves the state as it was read, and
// a source that had none has none again.
func TestReleasedClaimRestoresState(t *testing.T) {
	ctx, _, kv := stateBucket(t)
	st, rev, _ := readState(ctx, kv, "fresh")
	c, err := claimState(ctx, kv, "fresh", st, rev)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "fresh"); !errors.Is(err, bus.ErrKeyNotFound) {
		t.Errorf("a fresh source's state after release: err = %v, want none", err)
	}
	if err := saveState(ctx, kv, SourceState{ID: "kept", Status: "ok", ItemsSeen: 7}); err != nil {
		t.Fatal(err)
	}
	st, rev, _ = readState(ctx, kv, "kept")
	if c, err = claimState(ctx, kv, "kept", st, rev); err != nil {
		t.Fatal(err)
	}
	c.release(ctx)
	st, rev, _ = readState(ctx, kv, "kept")
	if st.Claim != nil || st.ItemsSeen != 7 {
		t.Errorf("state after release = %+v, want the one read, unclaimed", st)
	}
	if _, err := claimState(ctx, kv, "kept", st, rev); err != nil {
		t.Errorf("claim after a release: %v", err)
	}
}

// A fetch whose claim is lost while it runs (this job stalled past the
// expiry and another took the source over) stops with ErrSourceBusy, so
// that its job comes back once the new holder has saved, and it is no
// store failure: no store.write.fetch fault, no "store write failed".
func TestLostClaimStopsTheFetchWithoutAStoreFault(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fullText bool // the claim is lost while the item's page is fetched, after the feed
	}{{"while the feed is fetched", false}, {"after the feed, before its articles are stored", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var stop context.CancelCauseFunc
			busy := fmt.Errorf("fetch src: claim lost: %w", ErrSourceBusy)
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/a" {
					stop(busy)
					_, _ = io.WriteString(w, "<html><body><article><p>Agents seized fentanyl at the border.</p></article></body></html>")
					return
				}
				w.Header().Set("Content-Type", "application/rss+xml")
				_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><guid>a</guid><title>Fentanyl seizure</title><link>`+srv.URL+`/a</link></item></channel></rss>`)
				if !tc.fullText {
					w.(http.Flusher).Flush()
					stop(busy)
				}
			}))
			defer srv.Close()
			cfg := testConfig(t, func(c *config.Config) {
				c.Sources = []config.Source{{ID: "src", Type: "feed", URL: srv.URL, Interval: time.Hour, FullText: tc.fullText}}
			})
			b := openBus(t, cfg)
			p := newPipeline(t, cfg, b)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			kv := b.StateKV()
			st, rev, err := readState(ctx, kv, "src")
			if err != nil {
				t.Fatal(err)
			}
			c, err := claimState(ctx, kv, "src", st, rev)
			if err != nil {
				t.Fatal(err)
			}
			defer c.release(context.Background())
			fctx, cancelFetch := context.WithCancelCause(ctx)
			defer cancelFetch(nil)
			stop = cancelFetch
			_, err = p.fetch.fetchWithState(fctx, cfg.Sources[0], c.read, c)
			if !errors.Is(err, ErrSourceBusy) {
				t.Errorf("fetch whose claim was lost: err = %v, want ErrSourceBusy", err)
			}
			for _, f := range b.Health.Faults() {
				t.Errorf("fault raised for a lost claim: %+v", f)
			}
		})
	}
}

// A claim that cannot be given back says so, and how long its source
// waits: nothing else would tell why the source is skipped meanwhile.
func TestFailedReleaseSaysTheSourceWaits(t *testing.T) {
	ctx, b, kv := stateBucket(t)
	st, rev, _ := readState(ctx, kv, "s")
	c, err := claimState(ctx, kv, "s", st, rev)
	if err != nil {
		t.Fatal(err)
	}
	b.Close() // the store is gone
	err = c.release(ctx)
	if err == nil || !strings.Contains(err.Error(), "expire") || !strings.Contains(err.Error(), leaseTTL.String()) {
		t.Errorf("release on a closed bus: %v, want an error naming the wait", err)
	}
	if err := c.release(ctx); err != nil {
		t.Errorf("a second release: %v, want nothing to do", err)
	}
}

// A once pass where nothing changed was one state read per source on
// top of its two writes. The pass reads every state in one go: no
// per-source reads of the state bucket, and the same outcome.
func TestOnceReadsStatesInOnePass(t *testing.T) {
	srv := fetchtest.NewServer(fetchtest.Options{Feeds: 5, Items: 2})
	defer srv.Close()
	cfg := testConfig(t, func(c *config.Config) { c.Sources = srv.Sources() })
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sum, err := newPipeline(t, cfg, b).Once(ctx, 10*time.Second); err != nil || sum.SourcesOK != 5 || sum.NewArticles != 10 {
		t.Fatalf("first pass = %+v, %v", sum, err)
	}
	// A read of one entry is a direct or a stream message get on the
	// bucket's stream.
	stream := "KV_" + b.Names.StateBucket
	var gets atomic.Int64
	for _, subj := range []string{"$JS.API.DIRECT.GET." + stream + ".>", "$JS.API.DIRECT.GET." + stream, "$JS.API.STREAM.MSG.GET." + stream} {
		sub, err := b.NC.Subscribe(subj, func(*nats.Msg) { gets.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	if err := b.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	sum, err := newPipeline(t, cfg, b).Once(ctx, 10*time.Second)
	if err != nil || sum.SourcesOK != 5 || sum.NewArticles != 0 {
		t.Fatalf("second pass = %+v, %v", sum, err)
	}
	if err := b.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := gets.Load(); n != 0 {
		t.Errorf("the second pass read the state bucket %d times one entry at a time, want 0", n)
	}
	for _, src := range cfg.Sources {
		st, err := LoadState(ctx, b.StateKV(), src.ID)
		if err != nil || st.Claim != nil || st.NotModified != 1 || st.Status != "ok" {
			t.Errorf("state of %s = %+v, %v; want saved, unclaimed, one 304", src.ID, st, err)
		}
	}
}

// A state read beforehand that is stale by the time of the fetch (it
// was written since) costs one more read, not the fetch: the claim at
// the stale revision fails and the fetch reads the state again.
func TestStaleStateReadIsReadAgain(t *testing.T) {
	srv := fetchtest.NewServer(fetchtest.Options{Feeds: 1, Items: 2})
	defer srv.Close()
	cfg := testConfig(t, func(c *config.Config) { c.Sources = srv.Sources() })
	b := openBus(t, cfg)
	p := newPipeline(t, cfg, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := cfg.Sources[0]
	for _, tc := range []struct {
		name  string
		write bool // the state is written after the read
	}{{"fresh", false}, {"stale", true}} {
		t.Run(tc.name, func(t *testing.T) {
			states, err := readStates(ctx, b.StateKV())
			if err != nil {
				t.Fatal(err)
			}
			pre, ok := states[src.ID]
			if !ok {
				pre = stateAt{st: SourceState{ID: src.ID, Status: "pending"}}
			}
			if tc.write {
				st := pre.st
				st.ID = src.ID
				if err := saveState(ctx, b.StateKV(), st); err != nil {
					t.Fatal(err)
				}
			}
			r, err := p.fetch.fetchSourceFrom(ctx, src, pre, false)
			if err != nil || r.Err != nil {
				t.Fatalf("fetch = %+v, %v; want fetched", r, err)
			}
			st, err := LoadState(ctx, b.StateKV(), src.ID)
			if err != nil || st.Claim != nil || st.Status != "ok" || st.LastFetch.IsZero() {
				t.Errorf("state = %+v, %v; want saved, unclaimed", st, err)
			}
		})
	}
}

// A state that does not decode was read as "pending" without a word: the
// source was fetched as new (every item again, its failure count and
// validator gone) and nobody was told why. The fetch goes on as before,
// and says so at error level, by the one-pass read and the single read.
func TestUndecodableStateIsReported(t *testing.T) {
	srv := fetchtest.NewServer(fetchtest.Options{Feeds: 1, Items: 2})
	defer srv.Close()
	cfg := testConfig(t, func(c *config.Config) { c.Sources = srv.Sources() })
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := cfg.Sources[0]
	for _, once := range []bool{false, true} {
		t.Run(fmt.Sprintf("once=%v", once), func(t *testing.T) {
			if _, err := b.StateKV().Put(ctx, src.ID, []byte("{not json")); err != nil {
				t.Fatal(err)
			}
			var logs logtest.Buffer
			p, err := New(cfg, b, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if once {
				_, err = p.Once(ctx, 10*time.Second)
			} else {
				_, err = p.FetchNow(ctx, src)
			}
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			out := logs.String()
			if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "does not decode") {
				t.Errorf("no error logged for the undecodable state; logs:\n%s", out)
			}
			if st, err := LoadState(ctx, b.StateKV(), src.ID); err != nil || st.Status != "ok" {
				t.Errorf("state after the fetch = %+v, %v; want saved", st, err)
			}
		})
	}
}

// LoadStates, behind the status page and `newswatch sources`, left an
// undecodable state out: the source showed as never fetched, with no
// word of why. It shows as pending with the decoding error.
func TestLoadStatesSaysWhatDoesNotDecode(t *testing.T) {
	cfg := testConfig(t, nil)
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.StateKV().Put(ctx, "broken", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	states, err := LoadStates(ctx, b.StateKV())
	if err != nil {
		t.Fatal(err)
	}
	st, ok := states["broken"]
	if !ok || st.Status != "pending" || !strings.Contains(st.Error, "does not decode") {
		t.Errorf("state of an undecodable entry = %+v (found %v), want pending with the decoding error", st, ok)
	}
}

// TestOncePassAloneWritesOneStatePerSource: a once pass on an embedded
// store no other process can reach (bus.Exclusive) claims nothing: each
// source costs one state write, its save, instead of a claim and a save.
// A claim left in a state by a process that died does not hold the
// source back either. With nats.listen set, other processes may share the
// store, and claims stay.
func TestOncePassAloneWritesOneStatePerSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen bool
		writes int // state writes per source in the second pass
	}{
		{"alone", false, 1},
		{"listening", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srcs []config.Source
			for i := range 3 {
				f := newFeed(t)
				f.add(fmt.Sprintf("Story %d", i))
				srcs = append(srcs, config.Source{ID: fmt.Sprintf("wire%d", i), URL: f.srv.URL})
			}
			cfg := testConfig(t, func(c *config.Config) {
				c.Sources = srcs
				if tc.listen {
					c.NATS.Listen = freeLoopbackAddr(t)
				}
			})
			b := openBus(t, cfg)
			if b.Exclusive() == tc.listen {
				t.Fatalf("Exclusive() = %v with listen %v", b.Exclusive(), tc.listen)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := newPipeline(t, cfg, b)
			if _, err := p.Once(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			// A dead process's claim on the first source, as a crash leaves it.
			st, err := LoadState(ctx, b.StateKV(), srcs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			st.Claim = &FetchClaim{Holder: "dead", Until: time.Now().Add(time.Hour)}
			if err := saveState(ctx, b.StateKV(), st); err != nil {
				t.Fatal(err)
			}
			before, err := b.StateKV().LastRevision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := p.Once(ctx, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			after, err := b.StateKV().LastRevision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fetched := len(srcs)
			if tc.listen {
				fetched-- // the claimed source waits for the claim to expire
			}
			if sum.SourcesOK != fetched {
				t.Errorf("second pass: %d sources ok, want %d (%+v)", sum.SourcesOK, fetched, sum)
			}
			if got, want := int(after-before), fetched*tc.writes; got != want {
				t.Errorf("second pass wrote %d states for %d fetched sources, want %d", got, fetched, want)
			}
			if st, err := LoadState(ctx, b.StateKV(), srcs[0].ID); err != nil || (st.Claim != nil) != tc.listen {
				t.Errorf("first source's state after the pass: claim %+v, %v", st.Claim, err)
			}
		})
	}
}

// freeLoopbackAddr is a loopback address with a port free right now.
func freeLoopbackAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestOwnClaimConflictIsAStoreFault: a pass alone on the store finds the
// state changed under it only if something is wrong with that premise;
// its save then fails as a store fault, not as a claim lost to another
// job (which would be retried and logged as a normal race).
func TestOwnClaimConflictIsAStoreFault(t *testing.T) {
	ctx, _, kv := stateBucket(t)
	if err := saveState(ctx, kv, SourceState{ID: "wire", Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	st, rev, err := readState(ctx, kv, "wire")
	if err != nil {
		t.Fatal(err)
	}
	c := ownClaim(kv, "wire", st, rev)
	if err := saveState(ctx, kv, SourceState{ID: "wire", Status: "error"}); err != nil { // another writer
		t.Fatal(err)
	}
	err = c.save(ctx, SourceState{ID: "wire", Status: "ok"})
	if err == nil || errors.Is(err, ErrSourceBusy) {
		t.Fatalf("save over another writer's state: %v; want a store error, not ErrSourceBusy", err)
	}
	if got, _ := LoadState(ctx, kv, "wire"); got.Status != "error" {
		t.Errorf("the other writer's state was overwritten: %+v", got)
	}
	// A fresh source: the save creates the entry.
	fresh := ownClaim(kv, "new", SourceState{ID: "new"}, 0)
	if err := fresh.save(ctx, SourceState{ID: "new", Status: "ok"}); err != nil {
		t.Fatalf("first save of a new source: %v", err)
	}
}

// stateBucket opens a bus on a fresh data dir for a test of claims on the
// source state bucket, with a context that ends with the test.
func stateBucket(t *testing.T) (context.Context, *bus.Bus, bus.KV) {
	b := openBus(t, testConfig(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, b, b.StateKV()
}
