// Package pipeline wires newswatch's stages together over the bus: the
// scheduler publishes fetch jobs, fetch workers publish new articles, the
// classifier publishes alerts, and the notifier delivers them. Run is the
// daemon; Once is a single pass for cron.
package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/fetcher"
	"newswatch/internal/clock"
	"newswatch/learn"
	"newswatch/metrics"
	"newswatch/news"
	"newswatch/notifier"
	"newswatch/trends"
)

// Roles are the stages a process runs.
type Roles struct{ Scheduler, Fetcher, Classifier, Notifier bool }

// AllRoles runs every stage.
var AllRoles = Roles{true, true, true, true}

// ParseRoles reads a comma-separated role list.
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "scheduler":
			r.Scheduler = true
		case "fetcher":
			r.Fetcher = true
		case "classifier":
			r.Classifier = true
		case "notifier":
			r.Notifier = true
		case "all":
			r = AllRoles
		case "":
		default:
			return r, fmt.Errorf("unknown role %q (scheduler, fetcher, classifier, notifier)", name)
		}
	}
	if r == (Roles{}) {
		return r, errors.New("no role given")
	}
	return r, nil
}

// Pipeline is one process's share of the work.
type Pipeline struct {
	b   *bus.Bus
	log *slog.Logger
	m   *metrics.Metrics

	cfg   atomic.Pointer[config.Config]
	fetch *fetchStage
	cls   *classifyStage
	disp  *notifier.Dispatcher
	sched *scheduler
	trend *trends.Service
	// events publishes operational events (see setupEvents).
	events *bus.Events
	// fetching is set while Run runs the fetcher role: its process
	// exports the sources' metrics.
	fetching atomic.Bool

	// subs builds, runs and closes the subscribers' sinks.
	subs *notifier.Subscribers
	// learner trains the topics' learned second stages (learned.go).
	learner *learn.Trainer

	fbSigner atomic.Pointer[feedback.Signer] // nil when the key could not be had
	fbSecret string                          // feedback.secret the signer was made with
}

// New builds the stages for cfg on an open bus. m may be nil.
func New(cfg *config.Config, b *bus.Bus, log *slog.Logger, m *metrics.Metrics) (*Pipeline, error) {
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	p := &Pipeline{b: b, log: log, m: m}
	p.cfg.Store(cfg)
	p.fetch = newFetchStage(b, cfg.Fetch, log, m, p.sources)
	p.cls = &classifyStage{b: b, log: log, m: m}
	p.cls.setTopics(cfg.Topics, c)
	if err := p.setupLearned(cfg, c); err != nil {
		return nil, fmt.Errorf("learned stage: %w", err)
	}
	p.disp = notifier.NewDispatcher(b, log, m)
	p.disp.SetTopics(cfg.Topics)
	p.subs = notifier.NewSubscribers(p.disp, log, p.feedbackLinks)
	p.sched = newScheduler(b, log, cfg.Fetch.Timeout)
	p.trend = trends.New(b, cfg, log)
	if m != nil {
		if err := p.trend.Register(m.Registry); err != nil {
			return nil, fmt.Errorf("trends metrics: %w", err)
		}
	}
	if err := p.setupFeedback(cfg); err != nil {
		return nil, err
	}
	p.setupEvents()
	if cfg.WebSub.CallbackURL != "" {
		if err := p.setupWebSub(cfg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// setupWebSub prepares WebSub subscriptions: their secrets derive from
// websub.secret, or from a random key kept in the store bucket so that it
// survives restarts and is shared by replicas.
func (p *Pipeline) setupWebSub(cfg *config.Config) error {
	key := []byte(cfg.WebSub.Secret)
	if len(key) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return err
		}
		if _, err := p.b.StoreKV().Create(ctx, "websub-key", fresh); err != nil && !errors.Is(err, bus.ErrKeyExists) {
			return fmt.Errorf("websub key: %w", err)
		}
		e, err := p.b.StoreKV().Get(ctx, "websub-key")
		if err != nil {
			return fmt.Errorf("websub key: %w", err)
		}
		key = e.Value
	}
	ws, err := fetcher.NewWebSub(p.fetch.f, cfg.WebSub.CallbackURL, key, p.log,
		func(ctx context.Context, src config.Source, arts []news.Article) error {
			_, err := p.fetch.publishArticles(ctx, p.log.With("source", src.ID), src, arts)
			if err != nil {
				p.fetch.storeFailed(p.log, err)
			}
			return err
		})
	if err != nil {
		return err
	}
	p.fetch.ws = ws
	return nil
}

// WebSub is the handler for hubs' callbacks and the path prefix it
// serves; nil when websub is not configured.
func (p *Pipeline) WebSub() (prefix string, h http.Handler) {
	if p.fetch.ws == nil {
		return "", nil
	}
	u, _ := url.Parse(p.cfg.Load().WebSub.CallbackURL)
	prefix = u.Path
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix, p.fetch.ws
}

// Config is the config in force.
func (p *Pipeline) Config() *config.Config { return p.cfg.Load() }

// Dispatcher is the notifier stage.
func (p *Pipeline) Dispatcher() *notifier.Dispatcher { return p.disp }

// Subscribers is the manager of the subscribers' sinks, for deliveries by
// hand (dead-letter replay) through the running ones.
func (p *Pipeline) Subscribers() *notifier.Subscribers { return p.subs }

// Trends is the per-topic series and its spike alerts.
func (p *Pipeline) Trends() *trends.Service { return p.trend }

// Classifier is the topic matcher in force.
func (p *Pipeline) Classifier() *classifier.Classifier { return p.cls.cls.Load() }

func (p *Pipeline) sources() []config.Source { return p.cfg.Load().Sources }

func (p *Pipeline) lookupSource(id string) (config.Source, bool) {
	for _, s := range p.cfg.Load().Sources {
		if s.ID == id {
			return s, true
		}
	}
	return config.Source{}, false
}

// setupFeedback makes the signer of feedback links from feedback.secret,
// or from a random key kept in the store bucket. Without http.public_url
// a missing key is only logged: no link needs it then.
func (p *Pipeline) setupFeedback(cfg *config.Config) error {
	if old := p.fbSigner.Load(); old != nil && p.fbSecret == cfg.Feedback.Secret {
		p.fbSigner.Store(old.WithBase(cfg.HTTP.PublicURL))
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, err := feedback.LoadKey(ctx, p.b.StoreKV(), cfg.Feedback.Secret)
	if err != nil {
		if cfg.HTTP.PublicURL != "" {
			return err
		}
		p.log.Warn("feedback links disabled", "err", err)
		return nil
	}
	p.fbSigner.Store(feedback.NewSigner(key, cfg.HTTP.PublicURL))
	p.fbSecret = cfg.Feedback.Secret
	return nil
}

// FeedbackSigner makes and checks feedback links; nil when unavailable.
func (p *Pipeline) FeedbackSigner() *feedback.Signer { return p.fbSigner.Load() }

// feedbackLinks are the links a sink adds to an alert for subscriber sub.
func (p *Pipeline) feedbackLinks(a *news.Alert, sub string) *news.FeedbackLinks {
	return p.fbSigner.Load().Links(a, sub)
}

// FeedbackHandler serves feedback.Path; nil when the bus has no feedback
// bucket or no key could be had.
func (p *Pipeline) FeedbackHandler() http.Handler {
	if p.b.FeedbackKV() == nil || p.fbSigner.Load() == nil {
		return nil
	}
	return &feedback.Handler{
		Signer: p.FeedbackSigner,
		Store:  feedback.NewStore(p.b.FeedbackKV()),
		Find: func(ctx context.Context, id string, created time.Time) (*news.Alert, error) {
			return feedback.FindAlert(ctx, p.b, id, created)
		},
		Log: p.log,
	}
}

// startNotifier starts every subscriber of the config in force; on
// error the ones started are stopped again.
// A subscriber whose consumer cannot be made yet starts without it
// (notifier.ErrNoConsumer), shown as such: it must not keep the others
// from running.
func (p *Pipeline) startNotifier(ctx context.Context) error {
	cfg := p.cfg.Load()
	if err := p.subs.Apply(ctx, cfg.Subscribers, cfg.SMTP); err != nil && !notifier.OnlyNoConsumer(err) {
		p.subs.Close()
		return err
	}
	return nil
}

func (p *Pipeline) stopNotifier() { p.subs.Close() }

// Run runs the given roles until ctx ends, then finishes the work in
// flight and returns.
func (p *Pipeline) Run(ctx context.Context, roles Roles) error {
	parent := ctx
	// A stage that fails stops the others too: a replica must not run on
	// with a stage missing while it looks healthy.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := p.cfg.Load()
	if roles.Notifier {
		if err := p.startNotifier(ctx); err != nil {
			// Asked to stop while starting: nothing failed.
			if EndedBy(parent, err) {
				return nil
			}
			return err
		}
		defer p.stopNotifier()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	start := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				// The first errors end the run; one more must not
				// block its stage, and the stop with it.
				select {
				case errs <- err:
				default:
					p.log.Error("stage", "err", err)
				}
			}
		}()
	}
	start(func() error { p.events.Run(ctx); return nil })
	defer p.flushEvents(ctx)
	if roles.Scheduler {
		start(func() error { p.heartbeat(ctx); return nil })
	}
	if roles.Fetcher {
		p.fetching.Store(true)
		defer p.fetching.Store(false)
		p.initSourceMetrics(ctx)
	}
	if roles.Classifier {
		p.trainLearned(ctx)
		start(func() error { p.learner.Run(ctx); return nil })
		start(func() error { return p.cls.consume(ctx, 2) })
		start(func() error { return p.trend.Run(ctx) })
	}
	if p.b.TrendsKV() != nil {
		start(func() error { return p.trend.Watch(ctx) })
	}
	// A scheduler and fetchers alone on the store hand jobs over in
	// memory: a job message per poll is the fetch stream's cost, and it
	// buys only the sharing of work between replicas. The stream's
	// consumer still runs, for the jobs stored before.
	var local func(fetchJob)
	consumers := cfg.Fetch.Workers
	if roles.Fetcher && roles.Scheduler && p.b.StateLocal() != nil {
		q := newJobQueue()
		local, consumers = q.push, 1
		told := p.sched.told
		p.fetch.alone.Store(&told)
		defer func() {
			// After the workers (wg.Wait below): the polls left unwritten
			// go to the store.
			p.fetch.alone.Store(nil)
			p.fetch.flushKept(context.WithoutCancel(ctx), p.b.StateLocal())
		}()
		start(func() error {
			p.fetch.runLocal(ctx, cfg.Fetch.Workers, q, p.lookupSource, p.sched.retryLater)
			return nil
		})
	}
	if roles.Fetcher {
		start(func() error { return p.fetch.consume(ctx, consumers, p.lookupSource) })
	}
	if roles.Scheduler {
		start(func() error { return p.sched.run(ctx, p.sources, local) })
	}
	if roles.Fetcher && p.fetch.ws != nil {
		p.fetch.subscribe.Store(true)
		start(func() error {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					if err := p.fetch.ws.Renew(ctx); err != nil {
						p.log.Warn("websub renew", "err", err)
					}
				}
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
		if EndedBy(parent, err) {
			// A stage that saw the shutdown first: not a failure.
			err = nil
			break
		}
		p.log.Error("pipeline stage failed; stopping", "err", err)
		cancel()
	}
	wg.Wait()
	return err
}

// EndedBy reports whether err is only ctx having ended: ctx is done, and
// err, or each error joined in it (one per subscriber, say), wraps that
// end. An operator's shutdown during start-up is then no failure, while
// a real one that came with it still is.
func EndedBy(ctx context.Context, err error) bool {
	end := ctx.Err()
	if end == nil || err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !errors.Is(e, end) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, end)
}

// flushEvents publishes the events still queued when Run ends, for a
// few seconds at most.
func (p *Pipeline) flushEvents(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.events.Flush(ctx); err != nil {
		p.log.Error("operational events lost at shutdown", "pending", p.events.Pending(), "err", err)
	}
}

// Reload puts a new, valid config in force: topics are recompiled, sources
// take effect at the next tick, and subscribers that were added or changed
// are (re)started and removed ones stopped. On error the old config stays.
func (p *Pipeline) Reload(ctx context.Context, cfg *config.Config, notifierRunning bool) error {
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	if err := p.setupFeedback(cfg); err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	p.cls.setTopics(cfg.Topics, c)
	p.learner.SetTopics(cfg.Topics, c)
	p.disp.SetTopics(cfg.Topics)
	p.trend.SetConfig(cfg)
	p.cfg.Store(cfg)
	if p.fetching.Load() {
		p.initSourceMetrics(ctx)
	}
	if !notifierRunning {
		return nil
	}
	if err := p.subs.Apply(ctx, cfg.Subscribers, cfg.SMTP); err != nil && !notifier.OnlyNoConsumer(err) {
		return fmt.Errorf("%w: %w", ErrSubscribersNotStarted, err)
	}
	return nil
}

// ErrSubscribersNotStarted is what Reload's error wraps when the new
// config is in force but some subscribers could not be started with it.
var ErrSubscribersNotStarted = errors.New("the new config is in force, but some subscribers did not start")

// Summary is the outcome of one pass.
type Summary struct {
	SourcesOK, SourcesFailed int
	NewArticles              int
	Alerts                   int
	Delivered                int64
	Retrying                 int // subscribers whose queue waits for a retry
	DeadLettered             int64
	Pending                  uint64 // alerts not yet delivered when the pass ended
	// NoConsumer are the subscribers that had no consumer to pull from
	// when the pass ended: the pass did not wait for them, and their
	// alerts (not counted in Pending) stay queued for a later pass.
	NoConsumer []string
	TimedOut   bool
	Failures   []FetchResult
	// Faults are the bus faults in force when the deliveries ended,
	// before the subscribers stopped (a stopped subscriber's
	// consumer.error is cleared with it).
	Faults []bus.Fault
}

// OK reports whether every source fetched and every delivery succeeded.
func (s Summary) OK() bool {
	return s.SourcesFailed == 0 && s.DeadLettered == 0 && s.Retrying == 0 && s.Pending == 0 && len(s.NoConsumer) == 0 && !s.TimedOut
}

func (s Summary) String() string {
	out := fmt.Sprintf("sources: %d ok, %d failed; new articles: %d; alerts: %d; deliveries: %d ok, %d pending, %d retrying, %d dead-lettered",
		s.SourcesOK, s.SourcesFailed, s.NewArticles, s.Alerts, s.Delivered, s.Pending, s.Retrying, s.DeadLettered)
	if len(s.NoConsumer) > 0 {
		out += "; subscribers without a consumer: " + strings.Join(s.NoConsumer, ", ")
	}
	return out
}

// Once fetches every source once, classifies what is new and delivers the
// alerts, waiting at most timeout for deliveries to finish or be handed to
// a retry whose time is past the deadline. It does not wait for a
// subscriber without a consumer to pull from (Summary.NoConsumer).
func (p *Pipeline) Once(ctx context.Context, timeout time.Duration) (Summary, error) {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	// Once every queue below is seen empty (or parked), the waiting pulls
	// of the classifier and the subscribers are ended at once: no message
	// can be on its way to them then, and the pass need not wait out
	// their expiry on its way out.
	drained, endPulls := context.WithCancel(context.Background())
	defer endPulls()
	p.disp.EndPullsWhen(drained)
	// The subscribers' consumers are created now, before any alert, but
	// pull nothing until the classifier has drained: delivering while
	// alerts are still written has the embedded server read older blocks
	// of the alert stream besides the one being written, a block-sized
	// buffer each, and the two stages' messages in flight add up
	// (docs/benchmarks.md). At the latest halfway through the pass, so
	// that a classifier that cannot finish does not hold every delivery
	// until the deadline.
	classified, openPulls := context.WithCancel(context.Background())
	defer openPulls()
	p.disp.HoldPullsUntil(classified)
	halfway := time.AfterFunc(timeout/2, openPulls)
	defer halfway.Stop()
	if err := p.startNotifier(bg); err != nil {
		return Summary{}, err
	}
	defer p.stopNotifier()
	p.trainLearned(ctx)

	// A fetch's store error fails the pass, but only after what the other
	// fetches stored is classified and delivered: returning at once left
	// it for the next pass, unsaid.
	sum, fetchErr := p.fetchAll(ctx, p.cfg.Load())
	// Events the fetches raised go out with this pass's deliveries.
	if err := p.events.Flush(ctx); err != nil {
		p.log.Error("operational events not published", "pending", p.events.Pending(), "err", err)
	}
	// The classifier starts once every fetch is done, not side by side
	// with them: each stream being written or read holds a buffer of its
	// block size in the embedded server (4 MB), and fewer of them at once
	// is most of a pass's peak memory (docs/benchmarks.md). The articles
	// are stored already; nothing is waiting on it meanwhile.
	clsDone := make(chan error, 1)
	go func() { clsDone <- p.cls.consumeUntil(bg, drained, 2) }()
	defer func() { stopBG(); <-clsDone }()
	err := p.waitDrained(ctx, deadline, &sum, openPulls)
	sum.Faults = p.b.Health.Faults()
	if err != nil {
		return sum, errors.Join(fetchErr, err)
	}
	sum.TimedOut = ctx.Err() != nil
	if !sum.TimedOut {
		endPulls()
	}
	// Events raised while deliveries ran (dead letters, store faults) are
	// stored, to go out with the next pass, not dropped with the process.
	p.flushEvents(ctx)
	sum.Alerts = int(p.cls.alerts.Load())
	for _, st := range p.disp.Status() {
		sum.Delivered += st.Delivered
		sum.DeadLettered += st.DeadLettered
	}
	if fetchErr != nil && !sum.TimedOut {
		return sum, fetchErr
	}
	return sum, nil
}

// fetchAll fetches every source once, Fetch.Workers at a time, and
// counts the outcomes; the error joins the jobs' own errors.
func (p *Pipeline) fetchAll(ctx context.Context, cfg *config.Config) (Summary, error) {
	var sum Summary
	results := make(chan FetchResult)
	var fetchErr error
	// Every state in one read, not one read per source: most of a pass
	// where nothing changed is store round trips.
	rctx, cancel := context.WithTimeout(ctx, busTimeout)
	states, err := readStates(rctx, p.b.StateKV())
	cancel()
	if err != nil {
		p.log.Warn("source states not read in one pass; reading them one by one", "err", err)
	}
	// Alone on the store, a pass that fetches each source once needs no
	// claims: one write per source instead of two.
	owned := p.b.Exclusive()
	go func() {
		sem := make(chan struct{}, cfg.Fetch.Workers)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, src := range cfg.Sources {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var r FetchResult
				var err error
				if states != nil {
					pre, ok := states[src.ID]
					if !ok {
						pre = stateAt{st: SourceState{ID: src.ID, Status: "pending"}}
					}
					r, err = p.fetch.fetchSourceFrom(ctx, src, pre, owned)
				} else {
					r, err = p.fetch.fetchSource(ctx, src)
				}
				if errors.Is(err, ErrSourceBusy) {
					// Fetched by a daemon right now: not this pass's failure.
					err, r.Err = nil, err
				}
				if err != nil {
					mu.Lock()
					fetchErr = errors.Join(fetchErr, err)
					mu.Unlock()
					if r.Err == nil {
						r.Err = err
					}
				}
				results <- r
			}()
		}
		wg.Wait()
		close(results)
	}()
	for r := range results {
		if r.Err != nil {
			sum.SourcesFailed++
			sum.Failures = append(sum.Failures, r)
		} else {
			sum.SourcesOK++
		}
		sum.NewArticles += r.New
	}
	return sum, fetchErr
}

// waitDrained waits for the classifier to take every article, calls
// classified, then waits for every subscriber's queue to drain or wait
// on a retry beyond the deadline, leaving out the subscribers without a
// consumer; it returns when ctx ends.
func (p *Pipeline) waitDrained(ctx context.Context, deadline time.Time, sum *Summary, classified func()) error {
	if _, err := p.cls.consumer(ctx); err != nil {
		return err
	}
	// Drained means every article stored so far is settled: the backlog
	// counts one the server has stored but not yet counted for the
	// consumer, as a consumer just created reports none at first
	// (bus.ConsumerBacklog).
	var (
		left    uint64 // what the last look saw, to say why the pass ends unclassified
		lookErr error
	)
	for ctx.Err() == nil {
		n, found, err := p.b.ConsumerBacklog(ctx, p.b.Names.ArticleStream, classifierConsumer)
		if err == nil && !found {
			err = fmt.Errorf("consumer %s not found", classifierConsumer)
		}
		if err == nil && n == 0 {
			break
		}
		switch {
		case err == nil:
			left, lookErr = n, nil
		case ctx.Err() == nil:
			// A look cut short by the end of the pass says nothing: the
			// count of the last one that worked stays.
			lookErr = err
		}
		clock.Sleep(ctx, 20*time.Millisecond)
	}
	if ctx.Err() != nil {
		// Deliveries opened halfway through the pass; what the classifier
		// did not take waits for the next pass, and the operator is told.
		p.log.Warn("the pass ended before the classifier took every article; the rest is classified by the next pass",
			"unclassified", left, "err", lookErr)
		return nil
	}
	classified()
	for ctx.Err() == nil {
		bl := p.subs.Drained(ctx, deadline)
		sum.Pending, sum.Retrying, sum.NoConsumer = bl.Pending, bl.Retrying, bl.NoConsumer
		if bl.Done {
			break
		}
		clock.Sleep(ctx, 20*time.Millisecond)
	}
	return nil
}

// FetchNow fetches one source now and publishes what is new (used by
// scripts and tests; the daemon fetches through the job stream).
func (p *Pipeline) FetchNow(ctx context.Context, src config.Source) (FetchResult, error) {
	return p.fetch.fetchSource(ctx, src)
}

// Publish hands articles to the classifier as if a source had found
// them; it returns how many were new.
func (p *Pipeline) Publish(ctx context.Context, src config.Source, arts []news.Article) (int, error) {
	r, err := p.fetch.publishArticles(ctx, p.log, src, arts)
	return r.New, err
}
