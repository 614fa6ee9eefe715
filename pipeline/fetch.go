package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/metrics"
	"newswatch/news"
)

// FetchResult is the outcome of fetching one source once.
type FetchResult struct {
	Source      string
	Err         error
	NotModified bool
	Items       int // items in the feed or page
	New         int // articles published for the first time
}

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

	// ws subscribes to the hubs that feeds name, when websub is set up
	// and this process runs as a daemon (subscribe).
	ws        *fetcher.WebSub
	subscribe atomic.Bool
}

// fetchSource fetches src, publishes each article not seen before, and
// records the source's new state. Only bus failures are returned as errors
// (the job should then be retried); a failing source is an outcome, kept
// in its state.
func (s *fetchStage) fetchSource(ctx context.Context, src config.Source) (FetchResult, error) {
	st, err := LoadState(ctx, s.b.State, src.ID)
	if err != nil {
		return FetchResult{Source: src.ID}, err
	}
	return s.fetchWithState(ctx, src, st)
}

// fetchWithState is fetchSource with the source's state already loaded.
func (s *fetchStage) fetchWithState(ctx context.Context, src config.Source, st SourceState) (FetchResult, error) {
	res := FetchResult{Source: src.ID}
	var err error
	st.ID, st.URL = src.ID, src.URL
	log := s.log.With("source", src.ID)

	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, s.timeout)
	r, ferr := s.f.Fetch(fctx, src, fetcher.Validator{ETag: st.ETag, LastModified: st.LastModified})
	cancel()
	st.LastFetch = time.Now().UTC()
	if ferr != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Err = ferr
		st.Status, st.Error = "error", ferr.Error()
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
		log.Warn("fetch failed", "url", src.URL, "failures", st.ConsecutiveFailures, "retry_in", delay.Round(time.Second), "err", ferr)
		s.m.Fetched(src.ID, time.Since(start), "error")
		return res, saveState(ctx, s.b.State, st)
	}

	res.NotModified = r.NotModified
	res.Items = len(r.Articles)
	if res.New, err = s.publishArticles(ctx, log, src, r.Articles); err != nil {
		return res, err
	}
	s.maybeSubscribe(log, src, r.Hub, r.Self)
	st.Status, st.Error, st.HTTPStatus = "ok", "", r.Status
	st.ConsecutiveFailures = 0
	st.LastSuccess = st.LastFetch
	st.ETag, st.LastModified = r.Validator.ETag, r.Validator.LastModified
	st.ItemsSeen += int64(res.New)
	if r.NotModified {
		st.NotModified++
	}
	st.NextDue = nextSlot(src, st.LastFetch)
	if s.pushing(src, st.LastFetch) {
		// The hub pushes this feed: polling is only the safety net.
		st.NextDue = nextSlot(src, st.LastFetch.Add((pushedPollFactor-1)*src.Interval))
	}
	if r.RetryAfter > 0 {
		st.NextDue = maxTime(st.NextDue, st.LastFetch.Add(r.RetryAfter))
	}
	outcome := "ok"
	if r.NotModified {
		outcome = "not_modified"
	}
	s.m.Fetched(src.ID, time.Since(start), outcome)
	log.Debug("fetched", "items", res.Items, "new", res.New, "not_modified", r.NotModified)
	return res, saveState(ctx, s.b.State, st)
}

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

// publishArticles publishes the articles not seen before and returns how
// many were new. The order matters: publish (and wait for the stream's
// acks) first, then remember the ids as seen. A crash in between
// re-publishes on the next fetch and the stream's duplicate window drops
// the repeats; the reverse order would lose articles. Publishes and seen
// writes go out together and are then awaited, so a feed costs a few
// round trips to the server, not three per item.
func (s *fetchStage) publishArticles(ctx context.Context, log *slog.Logger, src config.Source, arts []news.Article) (int, error) {
	var fresh []*news.Article
	for i := range arts {
		a := &arts[i]
		if a.ID == "" {
			a.ID = news.ArticleID(a.GUID, a.URL)
		}
		if _, err := s.b.Seen.Get(ctx, a.ID); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, fmt.Errorf("seen %s: %w", a.ID, err)
		}
		fresh = append(fresh, a)
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	futures := make([]jetstream.PubAckFuture, 0, len(fresh))
	for _, a := range fresh {
		if src.FullText && a.URL != "" {
			fctx, cancel := context.WithTimeout(ctx, s.timeout)
			if err := s.f.FullText(fctx, a); err != nil {
				// The teaser is still worth classifying.
				log.Warn("full text", "url", a.URL, "err", err)
			}
			cancel()
		}
		a.V = news.Version
		a.Source = src.ID
		if a.Fetched.IsZero() {
			a.Fetched = now
		}
		data, err := json.Marshal(a)
		if err != nil {
			return 0, fmt.Errorf("encode article %s: %w", a.ID, err)
		}
		f, err := s.b.JS.PublishAsync(s.b.Names.ArticleSubject(src.ID), data, jetstream.WithMsgID(a.ID))
		if err != nil {
			return 0, fmt.Errorf("publish article %s: %w", a.ID, err)
		}
		futures = append(futures, f)
	}
	acks, err := awaitAcks(ctx, futures)
	if err != nil {
		return 0, fmt.Errorf("publish articles of %s: %w", src.ID, err)
	}
	seen := make([]jetstream.PubAckFuture, 0, len(fresh))
	for _, a := range fresh {
		f, err := s.b.JS.PublishAsync(s.b.Names.SeenKey(a.ID), []byte(src.ID))
		if err != nil {
			return 0, fmt.Errorf("mark %s seen: %w", a.ID, err)
		}
		seen = append(seen, f)
	}
	if _, err := awaitAcks(ctx, seen); err != nil {
		return 0, fmt.Errorf("mark articles of %s seen: %w", src.ID, err)
	}
	n := 0
	for _, ack := range acks {
		if !ack.Duplicate {
			n++
			s.m.Published(src.ID)
		}
	}
	return n, nil
}

// awaitAcks waits for every future; it fails on the first error.
func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) ([]*jetstream.PubAck, error) {
	acks := make([]*jetstream.PubAck, 0, len(futures))
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			acks = append(acks, ack)
		case err := <-f.Err():
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return acks, nil
}

// fetchAckWait is how long a fetch job may go without a sign of progress
// before another worker may take it: short, since a worker signals
// progress while it fetches, so that a job of a crashed worker is soon
// taken up again.
const fetchAckWait = 30 * time.Second

// consume runs workers on the shared fetch-job consumer until ctx ends.
func (s *fetchStage) consume(ctx context.Context, workers int, lookup func(string) (config.Source, bool)) error {
	var cons jetstream.Consumer
	if err := bus.Retry(ctx, s.log, "create fetch consumer", func(ctx context.Context) (err error) {
		cons, err = s.b.JS.CreateOrUpdateConsumer(ctx, s.b.Names.FetchStream, jetstream.ConsumerConfig{
			Durable:       "fetcher",
			Description:   "fetch workers of every replica",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       fetchAckWait,
			MaxAckPending: 4 * workers,
			MaxDeliver:    5,
		})
		return err
	}); err != nil {
		return err
	}
	return consumeWith(ctx, s.log, cons, workers, func(ctx context.Context, msg jetstream.Msg) {
		var job fetchJob
		if err := json.Unmarshal(msg.Data(), &job); err != nil {
			s.log.Error("bad fetch job", "err", err)
			_ = msg.Term()
			return
		}
		src, ok := lookup(job.Source)
		if !ok {
			_ = msg.Ack() // removed from the config since it was scheduled
			return
		}
		st, err := LoadState(ctx, s.b.State, src.ID)
		if err != nil {
			s.log.Error("fetch job", "source", src.ID, "err", err)
			_ = msg.NakWithDelay(5 * time.Second)
			return
		}
		if !st.LastFetch.IsZero() && !st.LastFetch.Before(job.Due) {
			// Fetched since this job fell due (jobs queued up while no
			// fetcher ran): one fetch is enough.
			_ = msg.Ack()
			return
		}
		// A fetch with full text for many new items can outlast the ack
		// wait; keep the job ours so that no other worker fetches the same
		// source at the same time.
		stop := bus.InProgressEvery(msg, fetchAckWait/3)
		_, err = s.fetchWithState(ctx, src, st)
		stop()
		if err != nil {
			if ctx.Err() != nil {
				_ = msg.Nak()
				return
			}
			s.log.Error("fetch job", "source", src.ID, "err", err)
			_ = msg.NakWithDelay(5 * time.Second)
			return
		}
		_ = msg.Ack()
	})
}

// consumeWith feeds a consumer's messages to n workers until ctx ends,
// then waits for the handlers in flight. It pulls only as many messages as
// there are idle workers, so none waits in the client while its ack wait
// runs out, and every message pulled is handled, even during shutdown.
func consumeWith(ctx context.Context, log *slog.Logger, cons jetstream.Consumer, n int, handle func(context.Context, jetstream.Msg)) error {
	msgs := make(chan jetstream.Msg)
	idle := make(chan struct{}, n)
	for range n {
		idle <- struct{}{}
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				// Handlers finish what they started on shutdown: the
				// context only stops new work.
				handle(context.WithoutCancel(ctx), m)
				idle <- struct{}{}
			}
		}()
	}
	defer func() {
		close(msgs)
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-idle:
		}
		free := 1
	more:
		for free < n {
			select {
			case <-idle:
				free++
			default:
				break more
			}
		}
		batch, err := cons.Fetch(free, jetstream.FetchMaxWait(time.Second))
		got := 0
		if err == nil {
			for m := range batch.Messages() {
				got++
				msgs <- m
			}
			err = batch.Error()
		}
		for range free - got {
			idle <- struct{}{}
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			log.Warn("consume", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
