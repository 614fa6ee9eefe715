package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/metrics"
)

// FetchResult is the outcome of fetching one source once.
type FetchResult struct {
	Source      string
	Err         error
	NotModified bool
	Items       int // items in the feed or page
	New         int // articles published for the first time
	SetAside    int // items the store refused, skipped with a note
}

// ErrSourceBusy is returned for a source that another job (of this or
// another replica) is fetching right now.
var ErrSourceBusy = errors.New("source is being fetched by another job")

// fetchJob is the message on the fetch stream.
type fetchJob struct {
	Source string    `json:"source"`
	Due    time.Time `json:"due"`
}

type fetchStage struct {
	b       *bus.Bus
	f       *fetcher.Fetcher
	log     *slog.Logger
	timeout time.Duration
	m       *metrics.Metrics
	// ackWait bounds the wait for one publish window's acks.
	ackWait time.Duration
	// ftPool holds a slot per full-text page fetch in flight, over all
	// jobs of the process; ftBudget bounds one job's time on full text.
	ftPool   chan struct{}
	ftBudget time.Duration
	// sources lists the configured sources: links on their origins are
	// trusted for full text.
	sources func() []config.Source

	// hold is the earliest next fetch of each source this process
	// fetched, so that a job retried after a failure whose state could
	// not be saved does not fetch before the back-off.
	mu   sync.Mutex
	hold map[string]time.Time

	// events raises source.failing and source.recovered with the
	// thresholds of eventCfg.
	events   *bus.Events
	eventCfg func() config.Events

	// ws subscribes to the hubs that feeds name, when websub is set up
	// and this process runs as a daemon (subscribe).
	ws        *fetcher.WebSub
	subscribe atomic.Bool

	// alone, when set, is told each source's next due time by the fetches
	// of a daemon alone on its store, whose scheduler is in this process
	// (fetchAlone): they may then leave an unchanged state unwritten.
	alone atomic.Pointer[func(source string, nextDue time.Time)]
	// writeEvery is stateWriteEvery (shorter in tests).
	writeEvery time.Duration

	// memo spares the seen bucket a lookup for the items a source's last
	// fetch found seen or marked seen.
	memo *seenMemo
}

func newFetchStage(b *bus.Bus, cfg config.Fetch, log *slog.Logger, m *metrics.Metrics, sources func() []config.Source) *fetchStage {
	f := fetcher.New(cfg, log)
	// The text of an item is made only for the items not seen before
	// (publishArticles).
	f.DeferText()
	return &fetchStage{
		b: b, f: f, log: log, timeout: cfg.Timeout, m: m,
		memo:     newSeenMemo(),
		ackWait:  defaultAckWait,
		ftPool:   make(chan struct{}, max(cfg.FullTextWorkers, 1)),
		ftBudget: cmp.Or(cfg.FullTextBudget, time.Minute),
		sources:  sources,
		hold:     map[string]time.Time{},

		writeEvery: stateWriteEvery,
	}
}

// fetchSource fetches src, publishes each article not seen before, and
// records the source's new state. A failing source is an outcome, kept in
// its state; errors returned are the job's own: the bus failed (the state
// still records it when it can), or another job is fetching the source
// (ErrSourceBusy).
func (s *fetchStage) fetchSource(ctx context.Context, src config.Source) (FetchResult, error) {
	res, _, err := s.fetchDue(ctx, src, time.Time{}, nil, false)
	return res, err
}

// fetchSourceFrom is fetchSource for a source whose state was read
// beforehand (once's pass reads every state in one go). The read may be
// stale by now: a claim at its revision that fails reads the state
// again and tries once more, as fetchSource would have.
func (s *fetchStage) fetchSourceFrom(ctx context.Context, src config.Source, pre stateAt, owned bool) (FetchResult, error) {
	res, _, err := s.fetchDue(ctx, src, time.Time{}, &pre, owned)
	if errors.Is(err, errStaleRead) {
		res, _, err = s.fetchDue(ctx, src, time.Time{}, nil, owned)
	}
	return res, err
}

// errStaleRead: a claim at the revision of a state read beforehand
// failed; the state is read again.
var errStaleRead = errors.New("state read beforehand is stale")

// fetchDue is fetchSource for a job due at due: it does nothing, and
// reports done, when the source was fetched since (zero due: always
// fetch). The source is claimed in its state entry, at the revision read,
// until the new state is saved. pre, when not nil, is the state as read
// beforehand; a claim at its revision that fails returns errStaleRead.
// owned: this process alone fetches the source (ownClaim), and the claim
// writes nothing.
func (s *fetchStage) fetchDue(ctx context.Context, src config.Source, due time.Time, pre *stateAt, owned bool) (_ FetchResult, done bool, _ error) {
	if local := s.b.StateLocal(); local != nil {
		// Alone on the store, the daemon's jobs skip claims and reads
		// (fetchAlone); this fetch keeps them out meanwhile, and leaves
		// them to read the state it wrote.
		if !local.TryLock(src.ID) {
			return FetchResult{Source: src.ID}, false, ErrSourceBusy
		}
		defer local.Unlock(src.ID)
		defer local.Keep(src.ID, func(any) any { return nil })
	}
	var at stateAt
	if pre != nil {
		at = *pre
	} else {
		lctx, cancel := context.WithTimeout(ctx, busTimeout)
		var err error
		at, err = readStateAt(lctx, s.b.StateKV(), src.ID)
		cancel()
		if err != nil {
			s.storeFailed(s.log, err)
			return FetchResult{Source: src.ID}, false, err
		}
	}
	st, rev := at.st, at.rev
	if at.bad != nil {
		s.log.Error("source state does not decode; the source is fetched as new (validator and failure count lost), and the state is written afresh",
			"source", src.ID, "err", at.bad)
	}
	if !due.IsZero() && !st.LastFetch.IsZero() && !st.LastFetch.Before(due) {
		// Fetched since this job fell due (jobs queued up while no
		// fetcher ran, or a retried job whose fetch was saved): one
		// fetch is enough.
		return FetchResult{Source: src.ID}, true, nil
	}
	if owned {
		c := ownClaim(s.b.StateKV(), src.ID, st, rev)
		res, err := s.fetchWithState(ctx, src, c.read, c)
		return res, false, err
	}
	c, err := claimState(ctx, s.b.StateKV(), src.ID, st, rev)
	if pre != nil && errors.Is(err, ErrSourceBusy) {
		return FetchResult{Source: src.ID}, false, errStaleRead
	}
	if err != nil {
		if !errors.Is(err, ErrSourceBusy) {
			s.storeFailed(s.log, err)
		}
		return FetchResult{Source: src.ID}, false, err
	}
	// A claim taken over by another job (this one stalled past its
	// expiry) ends this fetch; its save would fail anyway.
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	stop := bus.Heartbeat(leaseTTL/3, func() {
		err := c.renew(context.WithoutCancel(ctx))
		switch {
		case bus.Conflict(err):
			s.log.Error("fetch claim lost to another job; this fetch stops", "source", src.ID, "err", err)
			lost(fmt.Errorf("fetch %s: claim lost: %w", src.ID, ErrSourceBusy))
		case err != nil:
			s.log.Warn("fetch claim", "source", src.ID, "err", err)
		}
	})
	defer func() {
		stop()
		if err := c.release(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("fetch claim", "source", src.ID, "err", err)
		}
	}()
	res, err := s.fetchWithState(ctx, src, c.read, c)
	return res, false, err
}

// fetchBudget bounds a fetch, its wait for the host's turn included, in
// fetch timeouts.
const fetchBudget = 3

// fetchWithState fetches src whose state is st, under claim c.
func (s *fetchStage) fetchWithState(ctx context.Context, src config.Source, st SourceState, c *claim) (FetchResult, error) {
	res := FetchResult{Source: src.ID}
	st.ID, st.URL = src.ID, src.URL
	log := s.log.With("source", src.ID)

	start := time.Now()
	// The fetcher's timeout starts once the host's turn comes
	// (fetch.per_host): a source behind a neighbour that hangs waits
	// without failing for it. The wait gets up to two timeouts more,
	// inside the four after which the scheduler takes a job for lost.
	fctx, cancel := context.WithTimeout(ctx, fetchBudget*s.timeout)
	r, ferr := s.f.Fetch(fctx, src, fetcher.Validator{ETag: st.ETag, LastModified: st.LastModified})
	cancel()
	st.LastFetch = time.Now().UTC()
	if ferr != nil {
		if ctx.Err() != nil {
			// The job was stopped: its claim lost (ErrSourceBusy), or
			// once's time up. Its cause says which.
			return res, context.Cause(ctx)
		}
		res.Err = ferr
		if fetcher.ParserPanicked(ferr) {
			s.m.Panicked("parse")
		}
		delay := st.failed(src, ferr)
		log.Warn("fetch failed", "url", src.URL, "failures", st.ConsecutiveFailures, "retry_in", delay.Round(time.Second), "err", ferr)
		s.m.Fetched(src.ID, time.Since(start), "error")
		return res, s.save(ctx, log, c, st, true)
	}

	res.NotModified = r.NotModified
	res.Items = len(r.Articles)
	pr, perr := s.publishArticles(ctx, log, src, r.Articles)
	res.New, res.SetAside = pr.New, pr.SetAside
	st.ItemsSeen += int64(pr.New)
	if ctx.Err() != nil {
		// Stopped while its articles were stored: no store failure, and
		// no state saved over a new holder's. What was stored is marked
		// seen; the rest comes again with the next fetch.
		return res, context.Cause(ctx)
	}
	if perr != nil {
		// The source is fine, the store is not: the state says so, and
		// the source waits a back-off like a failing one instead of being
		// fetched again at once. Its validator is not advanced, so the
		// items not stored come back with the next fetch.
		s.storeFailed(log, perr)
		st.Status, st.Error, st.ErrorKind, st.HTTPStatus = "error", perr.Error(), "", r.Status
		st.ConsecutiveFailures++
		st.NextDue = st.LastFetch.Add(fetcher.Backoff(st.ConsecutiveFailures, src.Interval))
		s.m.Fetched(src.ID, time.Since(start), "error")
		if err := s.save(ctx, log, c, st, false); err != nil {
			return res, errors.Join(perr, err)
		}
		return res, perr
	}
	s.maybeSubscribe(log, src, r.Hub, r.Self)
	st.succeeded(src, r, pr.Deferred, s.pushing(src, st.LastFetch))
	outcome := "ok"
	if r.NotModified {
		outcome = "not_modified"
	}
	s.m.Fetched(src.ID, time.Since(start), outcome)
	log.Debug("fetched", "items", res.Items, "new", res.New, "not_modified", r.NotModified, "deferred", pr.Deferred, "set_aside", pr.SetAside)
	return res, s.save(ctx, log, c, st, true)
}

// failed records a fetch that failed with ferr, and returns the back-off
// until the next try (at least the server's Retry-After).
func (st *SourceState) failed(src config.Source, ferr error) time.Duration {
	st.Status, st.Error, st.ErrorKind = "error", ferr.Error(), ErrorKindOf(ferr)
	st.ConsecutiveFailures++
	delay := fetcher.Backoff(st.ConsecutiveFailures, src.Interval)
	var se *fetcher.StatusError
	if errors.As(ferr, &se) {
		st.HTTPStatus = se.Code
		delay = max(delay, se.RetryAfter)
	} else {
		st.HTTPStatus = 0
	}
	st.NextDue = st.LastFetch.Add(delay)
	return delay
}

// succeeded records a fetch that worked (r), with deferred items left for
// the next one; pushed says a WebSub hub pushes the feed.
func (st *SourceState) succeeded(src config.Source, r *fetcher.Result, deferred int, pushed bool) {
	st.Status, st.Error, st.ErrorKind, st.HTTPStatus = "ok", "", "", r.Status
	st.ConsecutiveFailures = 0
	st.LastSuccess = st.LastFetch
	if deferred == 0 {
		// With items left for later, the old validator stays: the new
		// one would make the next fetch a 304 that hides them.
		st.ETag, st.LastModified = r.Validator.ETag, r.Validator.LastModified
	}
	if r.NotModified {
		st.NotModified++
	}
	st.NextDue = nextSlot(src, st.LastFetch)
	if pushed {
		// The hub pushes this feed: polling is only the safety net.
		st.NextDue = nextSlot(src, st.LastFetch.Add((pushedPollFactor-1)*src.Interval))
	}
	if r.RetryAfter > 0 {
		st.NextDue = maxTime(st.NextDue, st.LastFetch.Add(r.RetryAfter))
	}
}

// save writes a source's state within busTimeout. If the write fails,
// the next fetch of the source in this process still waits for
// st.NextDue.
// clear marks a job whose store writes all went well, which ends a
// store.write fault.
func (s *fetchStage) save(ctx context.Context, log *slog.Logger, c *claim, st SourceState, clear bool) error {
	if ev := s.sourceEvent(&st); ev != nil {
		defer s.events.Emit(*ev)
	}
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	err := c.save(ctx, st)
	if errors.Is(err, ErrSourceBusy) {
		// Another job holds the source now and saves its own outcome.
		log.Error("fetch claim lost to another job; this fetch's state is not saved", "err", err)
		return err
	}
	if err != nil {
		// The stored state is stale: hold the source here until NextDue.
		s.mu.Lock()
		s.hold[st.ID] = st.NextDue
		s.mu.Unlock()
		s.storeFailed(log, err)
		return err
	}
	// The stored state rules again (another replica may fetch sooner).
	s.mu.Lock()
	delete(s.hold, st.ID)
	s.mu.Unlock()
	// A save left unwritten (fetchAlone) says nothing of the store: only
	// a write that worked clears the fault.
	if clear && !c.skipped && s.b.Health.Clear(fetchWriteFault) {
		log.Info("store writes work again")
	}
	return nil
}

// heldUntil is the earliest time this process may fetch source again.
func (s *fetchStage) heldUntil(source string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hold[source]
}

// storeFailed reports a failed store write in the fetch path: an ERROR
// log line, and a store.write fault until a job's writes all succeed.
func (s *fetchStage) storeFailed(log *slog.Logger, err error) {
	log.Error("store write failed", "err", err)
	s.b.Health.Report(fetchWriteFault, bus.KindStoreError, err.Error())
}

// Each stage reports its store writes under a key of its own, so that a
// stage whose writes work never clears the fault of one whose writes fail.
const (
	fetchWriteFault    = "store.write.fetch"
	classifyWriteFault = "store.write.classify"
)

// pushedPollFactor is how many times less often a feed is polled while
// its WebSub hub pushes.
const pushedPollFactor = 4

// pushing reports whether src's hub pushed within the last few polling
// intervals; a hub silent for longer gets the normal polling back.
func (s *fetchStage) pushing(src config.Source, now time.Time) bool {
	if s.ws == nil || src.Schedule != "" {
		return false
	}
	st, ok := s.ws.Status(src.ID)
	return ok && st.Active && !st.LastPush.IsZero() && now.Sub(st.LastPush) < pushedPollFactor*src.Interval
}

// maybeSubscribe asks the feed's WebSub hub to push it, unless that was
// done already; polling goes on either way, so a silent hub costs nothing.
func (s *fetchStage) maybeSubscribe(log *slog.Logger, src config.Source, hub, self string) {
	if s.ws == nil || hub == "" || !s.subscribe.Load() {
		return
	}
	if st, ok := s.ws.Status(src.ID); ok && st.Hub == hub {
		return // pending, active or denied; renewals take care of it
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := s.ws.Subscribe(ctx, src, hub, self); err != nil {
			log.Warn("websub subscribe", "hub", hub, "err", err)
			return
		}
		log.Info("websub subscription requested", "hub", hub)
	}()
}

// fetchAckWait is how long a fetch job may go without a sign of progress
// before another worker may take it: short, since a worker signals
// progress while it fetches, so that a job of a crashed worker is soon
// taken up again.
const fetchAckWait = 30 * time.Second

// consume runs workers on the shared fetch-job consumer until ctx ends.
func (s *fetchStage) consume(ctx context.Context, workers int, lookup func(string) (config.Source, bool)) error {
	cons, err := s.b.OpenDurable(ctx, s.b.Names.FetchStream, bus.ConsumerSpec{
		Durable:       "fetcher",
		Description:   "fetch workers of every replica",
		AckWait:       fetchAckWait,
		MaxAckPending: 4 * workers,
		MaxDeliver:    5,
	}, s.log)
	if err != nil {
		return err
	}
	// A fetch with full text for many new items can outlast the ack
	// wait; the heartbeat keeps the job ours meanwhile.
	lp := &bus.Loop{Log: s.log, Workers: workers, Heartbeat: fetchAckWait / 3, Panicked: func() { s.m.Panicked("fetch") }}
	return lp.Run(ctx, cons, func(ctx context.Context, m bus.Msg) bus.Result {
		return s.handleJob(ctx, m, lookup)
	})
}

// handleJob runs one fetch job and says how to settle it.
func (s *fetchStage) handleJob(ctx context.Context, m bus.Msg, lookup func(string) (config.Source, bool)) bus.Result {
	var job fetchJob
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		s.log.Error("bad fetch job", "err", err)
		return bus.Term()
	}
	if retry, delay := s.runJob(ctx, job, lookup); retry {
		return bus.RetryAfter(delay)
	}
	return bus.Ack()
}

// runJob runs one fetch job; retry says it is to be run again after
// delay.
func (s *fetchStage) runJob(ctx context.Context, job fetchJob, lookup func(string) (config.Source, bool)) (retry bool, delay time.Duration) {
	src, ok := lookup(job.Source)
	if !ok {
		return false, 0 // removed from the config since it was scheduled
	}
	if until := s.heldUntil(src.ID); time.Now().Before(until) {
		// This process fetched the source and could not save its
		// state: the back-off holds all the same.
		return true, time.Until(until)
	}
	var err error
	if local := s.b.StateLocal(); local != nil {
		_, _, err = s.fetchAlone(ctx, local, src, job.Due, s.alone.Load())
	} else {
		_, _, err = s.fetchDue(ctx, src, job.Due, nil, false)
	}
	switch {
	case errors.Is(err, ErrSourceBusy):
		// Another job fetches it now; when this one comes back, that
		// fetch is saved and this one is done.
		return true, leaseTTL / 3
	case err != nil:
		s.log.Error("fetch job", "source", src.ID, "err", err)
		delay := 5 * time.Second
		if until := s.heldUntil(src.ID); time.Until(until) > delay {
			delay = time.Until(until)
		}
		return true, delay
	}
	return false, 0
}

// jobQueue holds the jobs the scheduler hands to the fetch workers of
// its own process (runLocal), first in, first out; the scheduler hands
// out at most one job per source at a time, so it holds at most one per
// source.
type jobQueue struct {
	mu    sync.Mutex
	jobs  []fetchJob
	ready chan struct{} // a job may be waiting
}

func newJobQueue() *jobQueue { return &jobQueue{ready: make(chan struct{}, 1)} }

func (q *jobQueue) push(j fetchJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	q.wake()
}

func (q *jobQueue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes the next job, waiting for one until ctx ends. Once ctx has
// ended it takes none: jobs still queued at stop are left (their sources'
// stored next due times are past, so the next start polls them), or the
// workers would fetch the whole queue before the daemon may stop.
func (q *jobQueue) pop(ctx context.Context) (fetchJob, bool) {
	for ctx.Err() == nil {
		q.mu.Lock()
		if len(q.jobs) > 0 {
			j := q.jobs[0]
			q.jobs[0] = fetchJob{}
			q.jobs = q.jobs[1:]
			more := len(q.jobs) > 0
			q.mu.Unlock()
			if more {
				q.wake() // for the next idle worker
			}
			return j, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return fetchJob{}, false
		case <-q.ready:
		}
	}
	return fetchJob{}, false
}

// runLocal runs workers on the jobs of q until ctx ends: the daemon's
// fetch workers when the bus alone reaches its store, where a job needs
// no message on the fetch stream (that stream exists for replicas to
// share the work). A job taken is finished, as bus.Loop finishes a
// message; one to be run again is handed to retry.
func (s *fetchStage) runLocal(ctx context.Context, workers int, q *jobQueue, lookup func(string) (config.Source, bool), retry func(source string, due time.Time, d time.Duration)) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				job, ok := q.pop(ctx)
				if !ok {
					return
				}
				if again, d := s.runLocalJob(context.WithoutCancel(ctx), job, lookup); again {
					retry(job.Source, job.Due, d)
				}
			}
		})
	}
	wg.Wait()
}

// localPanicRetry is when a job from the in-memory queue whose run
// panicked is run again (bus.Loop's PanicRetry, for a message).
const localPanicRetry = time.Minute

// runLocalJob is runJob for a job of the in-memory queue. A run that
// panics (a bug, met on one source) costs the job a delay and an ERROR
// with the stack, not the process, as bus.Loop has it for a message: a
// daemon that crashed on it would meet it again at every start.
func (s *fetchStage) runLocalJob(ctx context.Context, job fetchJob, lookup func(string) (config.Source, bool)) (again bool, delay time.Duration) {
	defer func() {
		if v := recover(); v != nil {
			again, delay = true, localPanicRetry
			s.log.Error("fetch job failed; it is run again later. This is a bug: please report it with the stack",
				"source", job.Source, "panic", fmt.Sprint(v), "retry_in", delay, "stack", string(debug.Stack()))
			s.m.Panicked("fetch")
		}
	}()
	return s.runJob(ctx, job, lookup)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
