package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/metrics"
	"newswatch/news"
)

// Dispatcher runs one durable JetStream consumer per subscriber and feeds
// each alert to the subscriber's Sink. Deliveries are acknowledged only
// after the sink succeeded, so an alert survives any crash; a failing
// subscriber backs off on its own consumer and never delays another.
type Dispatcher struct {
	b   *bus.Bus
	log *slog.Logger
	m   *metrics.Metrics
	now func() time.Time

	startMu sync.Mutex // one Start, Stop or Close at a time
	closed  bool       // after Close, Start fails

	mu            sync.Mutex
	loops         map[string]*loop
	digestAckWait time.Duration
	windows       map[string]time.Duration // story window per topic; 0: off
	stories       map[string]*Stories      // per topic
	wg            sync.WaitGroup

	// checkEvery is how often a running subscriber checks that its
	// consumer still exists and whether another replica (or `newswatch
	// subscribers enable`) changed its disabled state.
	checkEvery time.Duration
	ackWait    time.Duration // of an alert in flight; deliveryAckWait but in tests

	events   *bus.Events     // raises deadletter events; nil: none
	endPulls context.Context // see EndPullsWhen; nil: pulls run to expiry
	holdFor  context.Context // see HoldPullsUntil; nil: pulls start at once
}

// deliveryAckWait is the ack wait of a subscriber's alert in flight.
const deliveryAckWait = 20 * time.Second

// DigestSink delivers many alerts as one message (email digests).
type DigestSink interface {
	NotifyDigest(ctx context.Context, alerts []*news.Alert) (retry bool, err error)
}

// Attempt is one failed delivery try.
type Attempt struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// DeadLetter is what the dead-letter stream keeps of a delivery that gave
// up: the alert, and every attempt's error.
type DeadLetter struct {
	V          int        `json:"v"`
	Subscriber string     `json:"subscriber"`
	Alert      news.Alert `json:"alert"`
	Attempts   []Attempt  `json:"attempts"`
	Reason     string     `json:"reason"`
	DeadAt     time.Time  `json:"dead_at"`
}

// SubscriberStatus is a subscriber's delivery state since this process
// started.
type SubscriberStatus struct {
	ID           string    `json:"id"`
	Delivered    int64     `json:"delivered"`
	Failures     int64     `json:"failures"` // failed tries, retried or not
	DeadLettered int64     `json:"dead_lettered"`
	LastResult   string    `json:"last_result,omitempty"` // ok | retry | dead | gone
	LastError    string    `json:"last_error,omitempty"`
	LastAt       time.Time `json:"last_at,omitzero"`
	NextRetry    time.Time `json:"next_retry,omitzero"` // set while the head alert waits for a retry
	// Disabled is set while deliveries are stopped after a 410 Gone; the
	// subscriber's alerts stay queued. See DisabledState.
	Disabled       bool      `json:"disabled,omitempty"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	DisabledAt     time.Time `json:"disabled_at,omitzero"`
	// ConsumerError is set while the subscriber has no consumer to pull
	// from: its consumer was lost and cannot be made again, or pulls
	// from it keep failing. Nothing is delivered meanwhile; its alerts
	// stay in the stream. ConsumerErrorSince is when it began.
	ConsumerError      string    `json:"consumer_error,omitempty"`
	ConsumerErrorSince time.Time `json:"consumer_error_since,omitzero"`
	FollowUps          int64     `json:"follow_ups,omitempty"` // alerts sent as follow-ups of a story
	// Folded counts alerts not sent because the subscriber got the same
	// article through another of its topics (see Fold).
	Folded int64 `json:"folded,omitempty"`
	// Digest subscribers hold their alerts until the next digest.
	Digest     bool      `json:"digest,omitempty"`
	Held       int       `json:"held,omitempty"`
	NextDigest time.Time `json:"next_digest,omitzero"`
}

type loop struct {
	sub    config.Subscriber
	sink   Sink
	cons   *bus.Consumer // replaced when a lost consumer is recreated
	spec   bus.ConsumerSpec
	ctx    context.Context // the loop's own: ends with Stop or Close
	cancel context.CancelFunc
	done   chan struct{}
	abort  context.Context // ends a waiting pull, and the loop (EndPullsWhen)
	hold   context.Context // no pull before it is done (HoldPullsUntil)

	// Used by the loop's goroutine only.
	position  uint64    // last position recorded in the store
	nextCheck time.Time // next consumer and disabled-state check
	// unstored is a 410's disabled state the store did not take; the
	// checks store it again instead of taking its absence for an Enable.
	unstored *DisabledState
	// The subscriber's consumer: lost is set while it is gone and could
	// not be made again; consSince while there is no consumer to pull
	// from (lost, or pullFails in a row), with consTries failed tries
	// and the last ERROR at consLogged.
	lost       bool
	pullFails  int
	consSince  time.Time
	consTries  int
	consLogged time.Time

	mu     sync.Mutex
	status SubscriberStatus
}

// disabled reports whether the subscriber's deliveries are stopped.
func (l *loop) disabled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status.Disabled
}

// NewDispatcher returns a dispatcher on the bus.
func NewDispatcher(b *bus.Bus, log *slog.Logger, m *metrics.Metrics) *Dispatcher {
	return &Dispatcher{b: b, log: log, m: m, now: time.Now, loops: map[string]*loop{}, digestAckWait: defaultDigestAckWait,
		windows: map[string]time.Duration{}, stories: map[string]*Stories{}, checkEvery: 5 * time.Second, ackWait: deliveryAckWait}
}

// SetTopics sets each topic's story window. Stories of a topic whose
// window changed start afresh.
func (d *Dispatcher) SetTopics(topics []config.Topic) {
	d.mu.Lock()
	defer d.mu.Unlock()
	windows := map[string]time.Duration{}
	for _, t := range topics {
		w := DefaultStoryWindow
		if t.StoryWindow != nil {
			w = *t.StoryWindow
		}
		windows[t.ID] = w
		if d.windows[t.ID] != w {
			delete(d.stories, t.ID)
		}
	}
	d.windows = windows
}

// storiesOf returns the story tracker of a topic, or nil when stories are
// off for it (or its topic is unknown).
func (d *Dispatcher) storiesOf(topic string) *Stories {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.windows[topic]
	if w <= 0 {
		return nil
	}
	s := d.stories[topic]
	if s == nil {
		s = NewStories(w)
		d.stories[topic] = s
	}
	return s
}

// ConsumerName is the durable consumer of a subscriber.
func ConsumerName(subscriber string) string { return "notify-" + subscriber }

// ErrNoConsumer is what Start's error wraps when the subscriber was
// started although its consumer could not be made: it runs without one,
// shown as such (see consumerFailed), and gets it as soon as it can be
// made, with every alert raised since.
var ErrNoConsumer = errors.New("started without its consumer, made as soon as it can be")

// Start creates or updates the subscriber's durable consumer and starts
// delivering to sink. A subscriber already running is restarted with the
// new settings; its position in the stream is kept. If the consumer
// cannot be made, a running subscriber goes on as it was; one not running
// starts without it (the error wraps ErrNoConsumer).
func (d *Dispatcher) Start(ctx context.Context, sub config.Subscriber, sink Sink) error {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	if d.closed {
		return fmt.Errorf("subscriber %s: the dispatcher is closed", sub.ID)
	}
	spec := d.consumerSpec(sub)
	d.b.Health.WatchConsumer(spec.Durable)
	policy, err := holdPolicyOf(sub, sink)
	if err != nil {
		return err
	}
	if policy != nil {
		// A digest holds its alerts unacknowledged until it is sent,
		// renewing them (InProgress) so they stay its own; after a crash
		// they come back after the ack wait and go into the next digest.
		spec.AckWait = d.digestAckWait
		spec.MaxAckPending = maxDigest
	}
	log := d.log.With("subscriber", sub.ID)
	dis, stale, err := d.startDisabled(ctx, log, sub)
	if err != nil {
		return err
	}
	cons, pos, err := d.createConsumer(ctx, log, spec, false)
	if err != nil {
		d.mu.Lock()
		_, running := d.loops[sub.ID]
		d.mu.Unlock()
		if running {
			// Its loop goes on as it was.
			return err
		}
	}
	startErr := err
	d.stop(sub.ID)
	if stale != nil {
		if err := d.dropDisabled(ctx, log, sub.ID, stale); err != nil {
			return err
		}
	}
	l := d.newLoop(ctx, sub, sink, cons, spec, pos, dis)
	l.status.Digest = policy != nil
	if startErr != nil {
		// Left out, it would show as not delivered by this process, and
		// be tried again only at the next reload; its loop makes the
		// consumer as soon as it can (see check).
		l.lost = true
		d.consumerFailed(log, l, "recreate", "its consumer cannot be made", startErr)
		startErr = fmt.Errorf("%w; %w", startErr, ErrNoConsumer)
	}
	d.mu.Lock()
	d.loops[sub.ID] = l
	d.mu.Unlock()
	d.wg.Go(func() {
		defer close(l.done)
		// A stopped subscriber's fault is no longer anyone's to clear.
		defer d.b.Health.Withdraw(consumerFaultKey(sub.ID), "the subscriber was stopped")
		if policy != nil {
			d.runHolding(l.ctx, l, policy)
			return
		}
		d.run(l.ctx, l)
	})
	return startErr
}

// consumerSpec is the durable consumer of a subscriber that gets its
// alerts one at a time.
func (d *Dispatcher) consumerSpec(sub config.Subscriber) bus.ConsumerSpec {
	subjects := []string{d.b.Names.AlertSubject(">")}
	if len(sub.Topics) > 0 || len(sub.Events) > 0 {
		// With events and no topics: events only.
		subjects = subjects[:0]
		for _, t := range sub.Topics {
			subjects = append(subjects, d.b.Names.AlertSubject(t))
		}
	}
	subjects = append(subjects, eventSubjects(d.b.Names, sub.Events)...)
	return bus.ConsumerSpec{
		Durable:     ConsumerName(sub.ID),
		Description: "deliveries to subscriber " + sub.ID,
		Subjects:    subjects,
		// Where it starts is set by createConsumer: new subscribers with
		// alerts raised from now on, not with the whole archive.
		//
		// The dispatcher signals progress while a delivery runs, so an
		// alert in flight is not handed out twice; a crashed process's
		// alert is redelivered this soon.
		AckWait: d.ackWait,
		// One alert at a time: a subscriber gets its alerts in order, and
		// one waiting for a retry holds back only its own queue.
		MaxAckPending: 1,
		MaxDeliver:    -1,
	}
}

// holdPolicyOf is the hold policy of a subscriber whose alerts may be
// held for a digest (digest, quiet_hours, max_per_hour), or nil.
func holdPolicyOf(sub config.Subscriber, sink Sink) (holdPolicy, error) {
	if sub.Digest == "" && sub.QuietHours == "" && sub.MaxPerHour <= 0 {
		return nil, nil
	}
	if _, ok := sink.(DigestSink); !ok {
		return nil, fmt.Errorf("subscriber %s: digest, quiet_hours and max_per_hour need an email subscriber", sub.ID)
	}
	if sub.Digest != "" {
		schedule, err := config.ParseSchedule(sub.Digest)
		if err != nil {
			return nil, fmt.Errorf("subscriber %s: %w", sub.ID, err)
		}
		return schedulePolicy{schedule}, nil
	}
	fp := &foldPolicy{maxPerHour: sub.MaxPerHour}
	if sub.QuietHours != "" {
		q, err := config.ParseQuietHours(sub.QuietHours)
		if err != nil {
			return nil, fmt.Errorf("subscriber %s: %w", sub.ID, err)
		}
		fp.quiet = &q
	}
	return fp, nil
}

// newLoop is a subscriber's loop, not started yet; dis is its disabled
// state at start.
func (d *Dispatcher) newLoop(ctx context.Context, sub config.Subscriber, sink Sink, cons *bus.Consumer, spec bus.ConsumerSpec, pos uint64, dis *DisabledState) *loop {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &loop{sub: sub, sink: sink, cons: cons, spec: spec, ctx: lctx, cancel: cancel, done: make(chan struct{}),
		position: pos, abort: context.Background()}
	d.mu.Lock()
	if d.endPulls != nil {
		l.abort = d.endPulls
	}
	l.hold = d.holdFor
	d.mu.Unlock()
	l.nextCheck = d.now().Add(d.checkEvery)
	l.status.ID = sub.ID
	if dis != nil {
		l.status.Disabled, l.status.DisabledReason, l.status.DisabledAt, l.status.LastResult = true, dis.Reason, dis.At, "gone"
	}
	return l
}

// Running reports whether a subscriber's deliveries run: false when it
// is not started here, or disabled (410 Gone).
func (d *Dispatcher) Running(id string) bool {
	d.mu.Lock()
	l, ok := d.loops[id]
	d.mu.Unlock()
	if !ok || l.disabled() {
		return false
	}
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// Disabled reports whether a subscriber's deliveries are stopped after a
// 410 Gone (see DisabledState).
func (d *Dispatcher) Disabled(id string) bool {
	d.mu.Lock()
	l, ok := d.loops[id]
	d.mu.Unlock()
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status.Disabled
}

// EndPullsWhen makes the waiting pulls of subscribers started from now on
// end as soon as ctx is done, rather than at their expiry, and their loops
// stop then. It is for `newswatch once`, which ends ctx only after it saw
// every queue empty, held in a digest or waiting for a retry past its
// deadline: no alert is then on its way to a pull (one that were would
// stay in flight until its ack wait ran out), and the pass need not wait
// out the expiry on its way out.
func (d *Dispatcher) EndPullsWhen(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.endPulls = ctx
}

// HoldPullsUntil makes the subscribers started from now on pull nothing
// until ctx is done. Their consumers are created (or kept) by Start as
// usual, so every alert stored meanwhile waits for them in the stream.
// `once` opens them after its classifier has drained: a stream block
// being read holds a buffer of the block size in the embedded server,
// and delivering while alerts are still written reads other blocks than
// the one being written (docs/benchmarks.md).
func (d *Dispatcher) HoldPullsUntil(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.holdFor = ctx
}

// Stop stops a subscriber's deliveries; the alert in flight finishes
// first. Its consumer stays, so no alert is lost.
func (d *Dispatcher) Stop(id string) {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	d.stop(id)
}

func (d *Dispatcher) stop(id string) {
	d.mu.Lock()
	l := d.loops[id]
	delete(d.loops, id)
	d.mu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// Remove stops a subscriber and deletes its consumer and its notes in the
// store: alerts raised from now on are no longer kept for it, and a
// subscriber of that id added later starts afresh.
func (d *Dispatcher) Remove(ctx context.Context, id string) error {
	d.Stop(id)
	if err := d.b.DeleteConsumer(ctx, d.b.Names.AlertStream, ConsumerName(id)); err != nil {
		return fmt.Errorf("subscriber %s: %w", id, err)
	}
	for _, k := range []string{positionKey(id), disabledKey(id), attemptsKey(id, digestAttempts)} {
		if err := d.b.ForgetNote(ctx, k); err != nil {
			return fmt.Errorf("subscriber %s: forget %s: %w", id, k, err)
		}
	}
	return nil
}

// Close stops every subscriber and waits for deliveries in flight.
func (d *Dispatcher) Close() {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	d.closed = true
	d.mu.Lock()
	for _, l := range d.loops {
		l.cancel()
	}
	d.loops = map[string]*loop{}
	d.mu.Unlock()
	d.wg.Wait()
}

// Status returns every running subscriber's state, sorted by id.
func (d *Dispatcher) Status() []SubscriberStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]SubscriberStatus, 0, len(d.loops))
	for _, l := range d.loops {
		l.mu.Lock()
		out = append(out, l.status)
		l.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Backlog is the number of alerts waiting for a subscriber, including the
// one in flight, and one stored a moment ago (see bus.ConsumerBacklog).
func (d *Dispatcher) Backlog(ctx context.Context, id string) (uint64, error) {
	n, found, err := d.b.ConsumerBacklog(ctx, d.b.Names.AlertStream, ConsumerName(id))
	if err == nil && !found {
		err = errors.New("no consumer")
	}
	if err != nil {
		return 0, fmt.Errorf("subscriber %s: %w", id, err)
	}
	return n, nil
}

// consumeLoop is the bus loop of a subscriber: one alert at a time, in
// order, with the checks between alerts (see check), nothing pulled while
// it is disabled, and failed dead letters retried after the first retry
// delay.
func (d *Dispatcher) consumeLoop(log *slog.Logger, l *loop) *bus.Loop {
	return &bus.Loop{
		Log:       log,
		Panicked:  func() { d.m.Panicked("deliver") },
		Heartbeat: l.spec.AckWait / 3,
		Abort:     l.abort,
		// One short pull per alert, never cancelled midway, and whatever
		// it brings is handled even during shutdown: a message left in
		// the client when the process stops would stay "in flight" until
		// its ack wait ran out, holding the whole queue (MaxAckPending 1).
		Room: func(ctx context.Context) int {
			d.check(ctx, log, l, false)
			if l.disabled() {
				// Deliveries stay stopped, the queue untouched, until the
				// disabled state is cleared (see check).
				return 0
			}
			return 1
		},
		Pause:           min(d.checkEvery, time.Second),
		PullFailed:      func(ctx context.Context, err error) { d.pullFailed(ctx, log, l, err) },
		DeadLetter:      d.publishDeadLetter(log, l),
		DeadLetterRetry: l.sub.Retry.Initial,
	}
}

// source pulls from the loop's consumer, the one check last recreated;
// a pull that works clears a consumer fault.
func (d *Dispatcher) source(log *slog.Logger, l *loop) bus.Source {
	return bus.SourceFunc(func(abort context.Context, n int, wait time.Duration, each func(bus.Msg)) error {
		if l.hold != nil {
			select {
			case <-l.hold.Done():
			case <-abort.Done():
				return nil
			case <-l.ctx.Done():
				return nil
			}
		}
		if l.cons == nil {
			// Started without its consumer: wait as a pull would, for
			// check to make it.
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-abort.Done():
			case <-l.ctx.Done():
			}
			return nil
		}
		err := l.cons.Pull(abort, n, wait, each)
		if err == nil {
			d.consumerWorks(log, l)
		}
		return err
	})
}

func (d *Dispatcher) run(ctx context.Context, l *loop) {
	log := d.log.With("subscriber", l.sub.ID)
	_ = d.consumeLoop(log, l).Run(ctx, d.source(log, l), func(ctx context.Context, m bus.Msg) bus.Result {
		return d.handle(ctx, log, l, m)
	})
}

// topicIDs lists topic ids for a log line.
func topicIDs(ts []news.AlertTopic) string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return strings.Join(ids, ",")
}

// delivery is where a message stands: its delivery count (1 for the
// first) and stream sequence, 1 and 0 when unknown.
func delivery(m bus.Msg) (attempt, seq uint64) {
	if md, err := m.Meta(); err == nil {
		return md.Delivered, md.Seq
	}
	return 1, 0
}

// handle delivers one alert and says how to settle its message. A
// subscriber gone (410) is disabled, and the alert stays queued.
func (d *Dispatcher) handle(ctx context.Context, log *slog.Logger, l *loop, m bus.Msg) bus.Result {
	attempt, seq := delivery(m)
	alert, err := d.decodeMsg(m.Subject(), m.Data())
	if err != nil {
		return d.undecodable(log, l, m, seq, err)
	}
	log = log.With("alert", alert.ID)
	var mine []news.AlertTopic
	switch {
	case alert.Event == nil:
		var deliver bool
		if mine, deliver = Fold(l.sub, &alert); !deliver {
			return d.folded(log, l, seq, mine[0].ID, alert.Topic)
		}
		alert.Topics = mine
		log = log.With("topics", topicIDs(mine))
	case skipEvent(l.sub, alert.Event):
		return d.settled(log, l, seq, "ack event")
	}
	start := time.Now()
	followUp, retry, err := d.deliver(ctx, l, l.sink, &alert, mine)
	latency := time.Since(start)
	if err == nil {
		return d.delivered(log, l, seq, alert.ID, attempt, followUp, latency)
	}
	attempts := d.recordAttempt(ctx, log, l.sub.ID, alert.ID, err)
	l.set(func(s *SubscriberStatus) { s.Failures++; s.LastError, s.LastAt = err.Error(), d.now() })
	switch {
	case errors.Is(err, ErrGone):
		return d.gone(ctx, log, l, latency, err)
	case !retry:
		log.Error("delivery failed for good", "outcome", "dead", "attempt", attempt, "latency", latency, "err", err)
		d.m.Delivered(l.sub.ID, "dead")
		return d.deadLetter(log, l, seq, alert, attempts, "final: "+err.Error())
	case attempt >= uint64(l.sub.Retry.Attempts):
		log.Error("delivery failed, no tries left", "outcome", "dead", "attempt", attempt, "latency", latency, "err", err)
		d.m.Delivered(l.sub.ID, "dead")
		return d.deadLetter(log, l, seq, alert, attempts, fmt.Sprintf("gave up after %d tries: %v", attempt, err))
	}
	return d.retryLater(log, l, attempt, latency, err)
}

// undecodable dead-letters a message that holds no alert.
func (d *Dispatcher) undecodable(log *slog.Logger, l *loop, m bus.Msg, seq uint64, err error) bus.Result {
	return d.deadLetter(log, l, seq, news.Alert{ID: m.Header("Nats-Msg-Id")},
		[]Attempt{{At: d.now(), Error: "undecodable alert: " + err.Error()}}, "undecodable alert")
}

// settled acks an alert the subscriber is done with (delivered, or
// nothing to deliver) and records its position, even when the ack
// fails: a consumer that still holds the alert delivers it again, with
// the same id, but one made anew after the consumer was lost (deleted
// with the alert in flight) must start after it, not send it again.
func (d *Dispatcher) settled(log *slog.Logger, l *loop, seq uint64, what string) bus.Result {
	return bus.Ack().Then(func(ctx context.Context, err error) {
		if err != nil {
			log.Warn(what, "err", err)
		}
		d.recordPosition(ctx, log, l, seq)
	})
}

// folded acks an alert whose article goes out once, with the alert of the
// subscriber's first matching topic (first), which names this topic too.
func (d *Dispatcher) folded(log *slog.Logger, l *loop, seq uint64, first, topic string) bus.Result {
	return d.settled(log, l, seq, "ack folded alert").Then(func(_ context.Context, err error) {
		if err != nil {
			return
		}
		l.set(func(s *SubscriberStatus) { s.Folded++ })
		d.m.Delivered(l.sub.ID, "folded")
		log.Debug("folded: the article is delivered with its alert of topic "+first, "topic", topic)
	})
}

// deliver hands the alert to sink, l's or one by hand: as a follow-up
// when it continues a story of one of the subscriber's topics (mine), else
// as an alert.
func (d *Dispatcher) deliver(ctx context.Context, l *loop, sink Sink, alert *news.Alert, mine []news.AlertTopic) (followUp, retry bool, err error) {
	if fs, ok := sink.(FollowUpSink); ok && alert.Kind == "" && alert.Event == nil { // spikes and events are no stories
		// A story is tracked per topic; the article joins the stories of
		// each of the subscriber's topics it matched, and is a follow-up
		// if it continues any of them.
		var st Story
		for _, t := range mine {
			if stories := d.storiesOf(t.ID); stories != nil {
				if s, first := stories.Add(l.sub.ID+"/"+t.ID, alert, d.now()); !first && !followUp {
					st, followUp = s, true
				}
			}
		}
		if followUp {
			retry, err = fs.NotifyFollowUp(ctx, alert, st)
			if err == nil {
				l.set(func(s *SubscriberStatus) { s.FollowUps++ })
			}
			return true, retry, err
		}
	}
	retry, err = sink.Notify(ctx, alert)
	return false, retry, err
}

// delivered acks an alert the sink took. A failed ack is only logged: the
// receiver has the alert, and the redelivery that follows carries the
// same id so the receiver can drop it.
func (d *Dispatcher) delivered(log *slog.Logger, l *loop, seq uint64, alertID string, attempt uint64, followUp bool, latency time.Duration) bus.Result {
	return d.settled(log, l, seq, "ack delivered alert").Then(func(ctx context.Context, _ error) {
		if attempt > 1 { // only retried alerts have attempts on record
			d.forgetAttempts(ctx, log, l.sub.ID, alertID)
		}
		d.countDelivered(log, l, attempt, followUp, latency)
	})
}

// countDelivered records an alert the sink took, from the subscriber's
// queue or by hand (see Subscribers.Deliver): its status, the metric and
// the log line.
func (d *Dispatcher) countDelivered(log *slog.Logger, l *loop, attempt uint64, followUp bool, latency time.Duration) {
	l.set(func(s *SubscriberStatus) {
		s.Delivered++
		s.LastResult, s.LastError, s.LastAt, s.NextRetry = "ok", "", d.now(), time.Time{}
	})
	d.m.Delivered(l.sub.ID, "ok")
	log.Info("delivered", "outcome", "ok", "follow_up", followUp, "attempt", attempt, "latency", latency)
}

// gone disables a subscriber whose receiver answered 410 Gone: in the
// store, so that every replica and every `once` run knows it, and nothing
// is lost: this alert and all later ones stay queued.
func (d *Dispatcher) gone(ctx context.Context, log *slog.Logger, l *loop, latency time.Duration, err error) bus.Result {
	dis, serr := setDisabled(ctx, d.b, l.sub, err.Error(), d.now())
	if serr != nil {
		log.Error("store disabled state; disabled in this process until the store takes it", "err", serr)
		l.unstored = &dis
	}
	log.Error("subscriber answered 410 Gone: deliveries to it are disabled; "+EnableHint(l.sub.ID),
		"outcome", "gone", "latency", latency, "err", err)
	return bus.RetryAfter(0).Then(func(_ context.Context, nerr error) {
		if nerr != nil {
			log.Warn("nak alert", "err", nerr)
		}
		l.set(func(s *SubscriberStatus) {
			s.LastResult, s.Disabled, s.DisabledReason, s.DisabledAt, s.NextRetry = "gone", true, dis.Reason, dis.At, time.Time{}
		})
		d.m.Delivered(l.sub.ID, "gone")
	})
}

// retryLater hands a failed alert back for a retry after the subscriber's
// back-off, or after the receiver's Retry-After when that is longer.
func (d *Dispatcher) retryLater(log *slog.Logger, l *loop, attempt uint64, latency time.Duration, err error) bus.Result {
	delay := l.sub.Retry.Delay(int(attempt), rand.Float64())
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > delay {
		// The receiver knows best when it can take more; a day at most,
		// so a bogus header cannot park the queue forever.
		delay = min(ra.After, 24*time.Hour)
	}
	log.Warn("delivery failed, will retry", "outcome", "retry", "attempt", attempt, "latency", latency, "retry_in", delay, "err", err)
	return bus.RetryAfter(delay).Then(func(_ context.Context, err error) {
		if err != nil {
			log.Warn("nak alert", "err", err)
		}
		l.set(func(s *SubscriberStatus) { s.LastResult, s.NextRetry = "retry", d.now().Add(delay) })
		d.m.Delivered(l.sub.ID, "retry")
	})
}

func (l *loop) set(f func(*SubscriberStatus)) {
	l.mu.Lock()
	f(&l.status)
	l.mu.Unlock()
}

func attemptsKey(subscriber, alertID string) string {
	h := sha256.Sum256([]byte(alertID))
	return "attempts." + subscriber + "." + hex.EncodeToString(h[:12])
}

// recordAttempt appends a failed try to the durable record of the alert's
// attempts, so the dead letter can list them even across restarts.
func (d *Dispatcher) recordAttempt(ctx context.Context, log *slog.Logger, subscriber, alertID string, err error) []Attempt {
	key := attemptsKey(subscriber, alertID)
	var attempts []Attempt
	if v, found, gerr := d.b.Note(ctx, key); gerr == nil && found {
		_ = json.Unmarshal(v, &attempts)
	}
	attempts = append(attempts, Attempt{At: d.now().UTC(), Error: err.Error()})
	if len(attempts) > 50 {
		attempts = attempts[len(attempts)-50:]
	}
	data, _ := json.Marshal(attempts)
	if perr := d.b.SetNote(ctx, key, data); perr != nil {
		log.Warn("record delivery attempt", "err", perr)
	}
	return attempts
}

// storedAttempts is how many failed tries the store holds for an alert;
// an unreadable record counts none, so the tries start afresh rather than
// never.
func (d *Dispatcher) storedAttempts(ctx context.Context, log *slog.Logger, subscriber, alertID string) int {
	v, found, err := d.b.Note(ctx, attemptsKey(subscriber, alertID))
	if err != nil {
		log.Warn("read delivery attempts", "err", err)
	}
	var attempts []Attempt
	if found && json.Unmarshal(v, &attempts) != nil {
		return 0
	}
	return len(attempts)
}

// forgetAttempts drops the record of an alert's (or a digest's) failed
// tries. One the store keeps by mistake is logged: its tries would count
// against the next failure of the same key (every digest shares one).
func (d *Dispatcher) forgetAttempts(ctx context.Context, log *slog.Logger, subscriber, alertID string) {
	if err := d.b.ForgetNote(ctx, attemptsKey(subscriber, alertID)); err != nil {
		log.Warn("forget delivery attempts", "key", alertID, "err", err)
	}
}

// deadNote is what a dead-letter result carries to publishDeadLetter.
type deadNote struct {
	seq      uint64
	alert    news.Alert
	attempts []Attempt
}

// deadLetter settles an alert by moving it to the dead-letter stream (see
// publishDeadLetter); once it is there the message is terminated.
func (d *Dispatcher) deadLetter(log *slog.Logger, l *loop, seq uint64, alert news.Alert, attempts []Attempt, reason string) bus.Result {
	return bus.DeadLetter(reason, deadNote{seq: seq, alert: alert, attempts: attempts}).Then(func(ctx context.Context, err error) {
		if err != nil {
			log.Warn("settle dead-lettered alert", "err", err)
		}
		// Stored as a dead letter: done with, as in settled.
		d.recordPosition(ctx, log, l, seq)
		d.forgetAttempts(ctx, log, l.sub.ID, alert.ID)
		d.deadLetterEvent(l.sub.ID, &alert, seq, reason)
		l.set(func(s *SubscriberStatus) {
			s.DeadLettered++
			s.LastResult, s.NextRetry = "dead", time.Time{}
			if i := strings.IndexByte(reason, ':'); i > 0 && s.LastError == "" {
				s.LastError = reason[i+1:]
			}
		})
	})
}

// deadLetterNotStored begins the status note of a dead letter refused.
const deadLetterNotStored = "the dead letter was not stored, so it is tried again: "

// publishDeadLetter is a subscriber loop's dead-letter hook: it stores
// the alert with every attempt's error. If that fails the loop hands the
// message back, to be redelivered: an alert is never dropped.
func (d *Dispatcher) publishDeadLetter(log *slog.Logger, l *loop) func(ctx context.Context, m bus.Msg, r bus.Result) error {
	return func(ctx context.Context, _ bus.Msg, r bus.Result) error {
		n, ok := r.Detail().(deadNote)
		if !ok {
			return fmt.Errorf("dead letter without its record (%T)", r.Detail())
		}
		dl := DeadLetter{V: news.Version, Subscriber: l.sub.ID, Alert: n.alert, Attempts: n.attempts, Reason: r.Reason(), DeadAt: d.now().UTC()}
		data, err := json.Marshal(dl)
		if err == nil {
			err = d.b.PublishDeadLetter(ctx, l.sub.ID, fmt.Sprintf("%s:%s:%d", l.sub.ID, n.alert.ID, n.seq), data)
		}
		if err != nil {
			log.Error("dead-letter alert; it will be redelivered", "alert", n.alert.ID, "err", err)
			// The queue waits behind this alert: say so, not the result
			// of the delivery before it.
			l.set(func(s *SubscriberStatus) {
				s.LastResult, s.NextRetry = "retry", d.now().Add(l.sub.Retry.Initial)
				// An undecodable alert comes back here with no delivery
				// that sets the error afresh: replace an earlier note.
				before, _, _ := strings.Cut(s.LastError, deadLetterNotStored)
				s.LastError = strings.TrimSuffix(before, "; ")
				if s.LastError != "" {
					s.LastError += "; "
				}
				s.LastError += deadLetterNotStored + err.Error()
			})
		}
		return err
	}
}
