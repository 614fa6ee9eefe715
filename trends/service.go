package trends

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

// opTimeout bounds every single call to the bus.
const opTimeout = 10 * time.Second

// Service keeps the series of every topic: it mirrors the trends bucket
// in memory (Watch), counts each new alert into it (Upkeep), rebuilds a
// topic's series from the article archive when it has none, and sends
// spike alerts.
type Service struct {
	b   *bus.Bus
	log *slog.Logger
	mem *Memory
	now func() time.Time

	cfg    atomic.Pointer[config.Config]
	loaded atomic.Bool // the first pass of Watch is done
	since  sync.Map    // topic → time.Time from its rebuild marker

	wmu     sync.Mutex
	written map[string]written // see tryUpdate
	spikes  *spikeMetrics
}

// New returns a service for cfg on an open bus.
func New(b *bus.Bus, cfg *config.Config, log *slog.Logger) *Service {
	s := &Service{b: b, log: log.With("stage", "trends"), mem: NewMemory(), now: time.Now, spikes: newSpikeMetrics()}
	s.cfg.Store(cfg)
	return s
}

// SetConfig puts a reloaded config in force (topics, spike settings).
func (s *Service) SetConfig(cfg *config.Config) { s.cfg.Store(cfg) }

// Memory is the in-memory series the service keeps up to date.
func (s *Service) Memory() *Memory { return s.mem }

func (s *Service) retention() time.Duration { return s.cfg.Load().Trends.Retention }

// Watch mirrors the trends bucket into memory until ctx ends: every
// replica serves the series, whichever replica counted it.
func (s *Service) Watch(ctx context.Context) error {
	if s.b.TrendsKV() == nil {
		return errors.New("trends: no trends bucket")
	}
	for {
		err := s.watchOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("trends watch ended; restarting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Service) watchOnce(ctx context.Context) error {
	w, err := s.b.TrendsKV().Watch(ctx)
	if err != nil {
		return fmt.Errorf("watch trends bucket: %w", err)
	}
	defer func() { _ = w.Stop() }()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prune.C:
			s.mem.Prune(s.now().Add(-s.retention()))
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watcher closed")
			}
			if e == nil {
				s.loaded.Store(true)
				continue
			}
			s.mirror(e.Key, e.Deleted, e.Value)
		}
	}
}

func (s *Service) mirror(key string, deleted bool, value []byte) {
	topic, hour, ok := parseKey(key)
	if !ok {
		return
	}
	if deleted {
		s.mem.Delete(topic, hour)
		return
	}
	e, err := decodeEntry(value)
	if err != nil {
		s.log.Warn("trends entry", "key", key, "err", err)
		return
	}
	s.mem.Set(topic, hour, e.hour())
}

// Apply counts observations into the bucket. Each topic-hour is read,
// merged and written back with an optimistic-concurrency update, retried
// on conflict; an article id already in an entry is not counted again.
func (s *Service) Apply(ctx context.Context, obs []Obs) error {
	cut := HourOf(s.now().Add(-s.retention()))
	groups := map[string][]Obs{}
	var order []string
	for _, o := range obs {
		if o.Hour < cut {
			continue // would expire at once, and hold a stale hour for a retention more
		}
		k := Key(o.Topic, o.Hour)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], o)
	}
	for _, k := range order {
		if err := s.update(ctx, k, groups[k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) update(ctx context.Context, key string, obs []Obs) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := s.tryUpdate(cctx, key, obs)
		cancel()
		if err == nil || attempt >= 20 ||
			!(errors.Is(err, bus.ErrKeyExists) || errors.Is(err, bus.ErrRevisionMismatch)) {
			if err != nil {
				return fmt.Errorf("update trends %s: %w", key, err)
			}
			return nil
		}
		// Another writer got there first: read its version and merge again.
	}
}

// written is an entry as this process last wrote it, with its revision:
// the next update of the key tries that revision without reading the
// entry back (another writer's update makes it fail, and it is read then).
type written struct {
	rev uint64
	e   *entry
}

// maxWritten bounds the entries kept; the live hours are few.
const maxWritten = 1000

func (s *Service) takeWritten(key string) (written, bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	w, ok := s.written[key]
	delete(s.written, key) // one user at a time: it is changed in place
	return w, ok
}

func (s *Service) putWritten(key string, w written) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.written == nil || len(s.written) >= maxWritten {
		s.written = map[string]written{}
	}
	s.written[key] = w
}

func (s *Service) tryUpdate(ctx context.Context, key string, obs []Obs) error {
	w, ok := s.takeWritten(key)
	e, rev := w.e, w.rev
	if !ok {
		e = &entry{}
		got, err := s.b.TrendsKV().Get(ctx, key)
		switch {
		case errors.Is(err, bus.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if e, err = decodeEntry(got.Value); err != nil {
				return err
			}
			rev = got.Revision
		}
	}
	if !e.add(obs) {
		s.putWritten(key, written{rev, e})
		return nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if rev == 0 {
		rev, err = s.b.TrendsKV().Create(ctx, key, data)
	} else {
		rev, err = s.b.TrendsKV().Update(ctx, key, data, rev)
	}
	if err == nil {
		topic, hour, _ := parseKey(key)
		s.mem.Set(topic, hour, e.hour())
		s.putWritten(key, written{rev, e})
	}
	return err
}

// Upkeep counts every new article alert into the series until ctx ends,
// from a durable consumer on the alert stream shared by all replicas; a
// new consumer starts at the beginning of the stream, so the alert
// archive is counted too. Messages are acknowledged after their counts
// are stored: a crash in between replays them, and the ids dedupe.
func (s *Service) Upkeep(ctx context.Context) error {
	var cons *bus.Batches
	// One ack per batch, for the batch: acking every alert would cost
	// the server as much as publishing it did.
	cfg := bus.BatchConfig{
		Stream:        s.b.Names.AlertStream,
		Durable:       trendsConsumer,
		Description:   "per-topic series of every replica",
		Subject:       s.b.Names.AlertSubject(">"),
		AckWait:       time.Minute,
		MaxAckPending: 2000,
	}
	fault := bus.StageConsumerFault(trendsConsumer)
	s.b.Health.WatchConsumer(trendsConsumer)
	failures := 0 // fetches failed in a row
	err := s.b.RetryShown(ctx, s.log, "create trends consumer", fault, func(ctx context.Context) (err error) {
		cons, err = s.b.Batches(ctx, cfg)
		return err
	})
	if err != nil {
		return err
	}
	var warned time.Time // when a failed remake was last logged
	for ctx.Err() == nil {
		batch, err := cons.Next(500, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("trends fetch", "err", err)
			if c := s.remakeLost(ctx, cfg, &warned); c != nil {
				cons = c
			}
			// Series and spike alerts standing still is a stage
			// stopped, shown as the others are (bus.Durable).
			if failures++; failures >= 3 {
				s.b.Health.Report(fault, bus.KindConsumerError, fmt.Sprintf("%s cannot take work from %s: %v", trendsConsumer, cfg.Stream, err))
			}
			time.Sleep(time.Second)
			continue
		}
		if failures > 0 {
			failures = 0
			s.b.Health.Clear(fault)
		}
		var obs []Obs
		for _, data := range batch.Data {
			if o, ok := decodeObs(data); ok {
				obs = append(obs, o)
			}
		}
		if len(batch.Data) == 0 {
			continue
		}
		// Finish what was fetched even when ctx ends meanwhile.
		wctx := context.WithoutCancel(ctx)
		// The same batch is applied again until it is counted: fetching on
		// would let the next batch's ack (AckAll) acknowledge this one
		// uncounted. Applying twice counts nothing twice (the article id
		// is the key).
		applied := false
		for !applied {
			err := s.Apply(wctx, obs)
			if err == nil {
				applied = true
				break
			}
			s.log.Error("trends: count alerts; retrying", "alerts", len(batch.Data), "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				continue
			}
			break
		}
		if !applied {
			return nil // unacknowledged: counted after the restart
		}
		if err := batch.Ack(); err != nil {
			s.log.Warn("trends: ack alerts", "err", err)
		}
	}
	return nil
}

// trendsConsumer is the durable consumer the upkeeps of every replica
// share.
const trendsConsumer = "trends"

// remakeLost makes the upkeep's consumer again if it is gone (deleted by
// hand, lost with a damaged store), from the start of the alert stream:
// counting an alert again counts nothing twice. Nil: it is there, or
// cannot be made now; that is logged once a minute (warned: when last).
func (s *Service) remakeLost(ctx context.Context, cfg bus.BatchConfig, warned *time.Time) *bus.Batches {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, found, err := s.b.LookupConsumer(lctx, cfg.Stream, cfg.Durable); err != nil || found {
		return nil
	}
	c, err := s.b.Batches(lctx, cfg)
	if err != nil {
		if time.Since(*warned) >= time.Minute {
			*warned = time.Now()
			s.log.Error("the trends consumer was lost and cannot be made again; series and spikes stand still until it can", "err", err)
		}
		return nil
	}
	s.log.Error("the trends consumer was lost; made again from the start of the alert stream (alerts counted before count once)")
	s.b.Health.ConsumerRemade(cfg.Durable)
	return c
}

// slimAlert is the part of an alert the series needs: decoding only it
// skips the article's text, the bulk of every alert.
type slimAlert struct {
	Kind    string    `json:"kind"`
	Topic   string    `json:"topic"`
	Score   float64   `json:"score"`
	Created time.Time `json:"created"`
	Article struct {
		ID        string    `json:"id"`
		Source    string    `json:"source"`
		URL       string    `json:"url"`
		Title     string    `json:"title"`
		Published time.Time `json:"published"`
		Fetched   time.Time `json:"fetched"`
	} `json:"article"`
}

func decodeObs(data []byte) (Obs, bool) {
	var s slimAlert
	if json.Unmarshal(data, &s) != nil {
		return Obs{}, false
	}
	a := news.Alert{Kind: s.Kind, Topic: s.Topic, Score: s.Score, Created: s.Created, Article: news.Article{
		ID: s.Article.ID, Source: s.Article.Source, URL: s.Article.URL, Title: s.Article.Title,
		Published: s.Article.Published, Fetched: s.Article.Fetched}}
	return ObsFromAlert(&a)
}

// builtKey is the store key saying a topic's series was rebuilt from
// the article archive.
func builtKey(topic string) string { return "trends-built." + topic }

type built struct {
	At    time.Time `json:"at"`
	Since time.Time `json:"since"` // the archive's first article: the series is known from there
}

// Since is when a topic's series starts to be known: the start of the
// archive it was rebuilt from, else its first counted hour.
func (s *Service) Since(ctx context.Context, topic string) (time.Time, bool) {
	if v, ok := s.since.Load(topic); ok {
		return v.(time.Time), true
	}
	if store := s.b.StoreKV(); store != nil {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		e, err := store.Get(cctx, builtKey(topic))
		cancel()
		var b built
		if err == nil && json.Unmarshal(e.Value, &b) == nil && !b.Since.IsZero() {
			s.since.Store(topic, b.Since) // a marker is written once
			return b.Since, true
		}
	}
	h, ok := s.mem.First(topic)
	return time.Unix(h, 0).UTC(), ok
}

// Rebuild counts, for every topic whose series was never rebuilt, the
// articles of the archive that match it now: the series of a new topic
// starts with the archive's history, not empty.
func (s *Service) Rebuild(ctx context.Context) error {
	cfg := s.cfg.Load()
	var todo []config.Topic
	for _, t := range cfg.Topics {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := s.b.StoreKV().Get(cctx, builtKey(t.ID))
		cancel()
		switch {
		case errors.Is(err, bus.ErrKeyNotFound):
			todo = append(todo, t)
		case err != nil:
			return fmt.Errorf("trends rebuild: %w", err)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	c, err := classifier.New(todo)
	if err != nil {
		return fmt.Errorf("trends rebuild: %w", err)
	}
	start := time.Now()
	var obs []Obs
	var since time.Time
	articles := 0
	err = WalkArticles(ctx, s.b, s.now().Add(-s.retention()), func(a *news.Article, stored time.Time) error {
		articles++
		if since.IsZero() {
			since = stored
		}
		for _, m := range c.Classify(a) {
			obs = append(obs, ObsOf(m.Topic, a, m.Score, stored))
		}
		if len(obs) >= 1000 {
			err := s.Apply(ctx, obs)
			obs = obs[:0]
			return err
		}
		return nil
	})
	if err == nil {
		err = s.Apply(ctx, obs)
	}
	if err != nil {
		return fmt.Errorf("trends rebuild: %w", err)
	}
	if since.IsZero() {
		since = s.now()
	}
	mark, _ := json.Marshal(built{At: s.now().UTC(), Since: since.UTC()})
	for _, t := range todo {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := s.b.StoreKV().Put(cctx, builtKey(t.ID), mark)
		cancel()
		if err != nil {
			return fmt.Errorf("trends rebuild: mark %s: %w", t.ID, err)
		}
	}
	s.log.Info("trends rebuilt from the article archive", "topics", len(todo), "articles", articles, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// WalkArticles calls f for every article of the archive stored since
// from (with the time it was stored), up to the last one stored when
// the walk began.
func WalkArticles(ctx context.Context, b *bus.Bus, from time.Time, f func(a *news.Article, stored time.Time) error) error {
	var ferr error
	err := b.WalkSince(ctx, b.Names.ArticleStream, b.Names.ArticleSubject(">"), from, func(m *bus.StoredMsg) bool {
		var a news.Article
		if json.Unmarshal(m.Data, &a) == nil {
			ferr = f(&a, m.Time)
		}
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("article stream: %w", err)
	}
	return nil
}

// Run keeps the series and sends spike alerts until ctx ends: the work
// of a classifier replica. Watch runs on its own (every replica serves
// the series).
func (s *Service) Run(ctx context.Context) error {
	if s.b.TrendsKV() == nil {
		return errors.New("trends: no trends bucket")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Rebuild(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("trends: rebuild from the archive failed; the series starts now", "err", err)
		}
	}()
	go s.spikeLoop(ctx)
	err := s.Upkeep(ctx)
	<-done
	return err
}
