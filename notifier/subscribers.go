package notifier

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"newswatch/config"
)

// Subscribers owns the sinks of the configured subscribers: it builds
// them (see SinkFor), runs them on a Dispatcher, reuses them while their
// config stands, and closes them when they are replaced or removed. It
// is the one way pipeline, test-delivery and dead-letter replay get a
// subscriber's sink.
type Subscribers struct {
	d     *Dispatcher // nil: sinks are only built for delivery by hand
	hand  *Dispatcher // delivers by hand (Deliver): d, or one without a bus
	log   *slog.Logger
	links LinkFunc // feedback links added by the sinks; nil: none

	mu      sync.Mutex
	applied map[string]applied // by subscriber id: what its sink was built from
	sinks   map[string]Sink
}

// applied is the config a subscriber's sink was last (re)started with.
type applied struct {
	sub    config.Subscriber
	smtp   config.SMTP
	failed bool // the (re)start failed: tried again at the next Apply
}

// NewSubscribers returns a manager running subscribers on d. d may be
// nil for a process that only delivers by hand (Deliver, Sink): it then
// has no story state, so no delivery of its own is a follow-up, and no
// metrics. links may be nil.
func NewSubscribers(d *Dispatcher, log *slog.Logger, links LinkFunc) *Subscribers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hand := d
	if hand == nil {
		// No bus and no topics: deliveries by hand are counted and logged
		// the same way, but no story is known, so none is a follow-up.
		hand = &Dispatcher{log: log, now: time.Now, loops: map[string]*loop{}, windows: map[string]time.Duration{}, stories: map[string]*Stories{}}
	}
	return &Subscribers{d: d, hand: hand, log: log, links: links, applied: map[string]applied{}, sinks: map[string]Sink{}}
}

// Apply puts subs in force: a subscriber that is new, whose config (or
// the SMTP server) changed, or whose last start failed is (re)started
// with a fresh sink; one that is gone is stopped and its sink closed; an
// unchanged one keeps running. A subscriber disabled by 410 Gone stays so
// until its config changes or it is enabled by command (see
// DisabledState). Every subscriber is tried; the errors are joined (see
// OnlyNoConsumer).
func (s *Subscribers) Apply(ctx context.Context, subs []config.Subscriber, smtp config.SMTP) error {
	if s.d == nil {
		return errors.New("subscribers: no dispatcher to run them on")
	}
	var errs []error
	keep := make(map[string]bool, len(subs))
	for _, sub := range subs {
		keep[sub.ID] = true
		s.mu.Lock()
		last, seen := s.applied[sub.ID]
		s.mu.Unlock()
		if seen && !last.failed && last.smtp == smtp && reflect.DeepEqual(last.sub, sub) &&
			(s.d.Running(sub.ID) || s.d.Disabled(sub.ID)) {
			if s.d.Disabled(sub.ID) {
				s.log.Warn("subscriber stays disabled (410 Gone): "+EnableHint(sub.ID), "subscriber", sub.ID)
			}
			continue
		}
		if err := s.start(ctx, sub, smtp); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	var gone []string
	for id := range s.applied {
		if !keep[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.d.Stop(id)
		s.mu.Lock()
		closeSink(s.sinks[id])
		delete(s.sinks, id)
		delete(s.applied, id)
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// start (re)starts sub on the dispatcher with a fresh sink; the sink it
// replaces is closed once the new one runs.
func (s *Subscribers) start(ctx context.Context, sub config.Subscriber, smtp config.SMTP) error {
	sink, err := s.build(sub, smtp)
	started := false
	if err == nil {
		err = s.d.Start(ctx, sub, sink)
		// Started without its consumer, it runs all the same: the error
		// is reported, and the dispatcher makes the consumer.
		started = err == nil || errors.Is(err, ErrNoConsumer)
		if !started {
			closeSink(sink)
		}
	}
	s.mu.Lock()
	s.applied[sub.ID] = applied{sub: sub, smtp: smtp, failed: !started}
	var old Sink
	if started {
		old = s.sinks[sub.ID]
		s.sinks[sub.ID] = sink
	}
	s.mu.Unlock()
	closeSink(old)
	return err
}

func (s *Subscribers) build(sub config.Subscriber, smtp config.SMTP) (Sink, error) {
	sink, err := SinkFor(sub, smtp)
	if err != nil {
		return nil, err
	}
	if s.links != nil {
		SetFeedback(sink, s.links)
	}
	return sink, nil
}

// Sink is the sink for delivering to sub by hand (test-delivery,
// dead-letter replay): the one in use when it was built from the same
// config, else a new one, kept for the next call and closed by Close.
func (s *Subscribers) Sink(sub config.Subscriber, smtp config.SMTP) (Sink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.applied[sub.ID]; ok && !last.failed && last.smtp == smtp && reflect.DeepEqual(last.sub, sub) {
		if sink := s.sinks[sub.ID]; sink != nil {
			return sink, nil
		}
	}
	if s.d != nil && s.sinks[sub.ID] != nil {
		// The running sink was built from another config: the one
		// asked for is not kept, so as not to replace the running one.
		return nil, errors.New("subscriber " + sub.ID + ": runs with another config")
	}
	sink, err := s.build(sub, smtp)
	if err != nil {
		return nil, err
	}
	closeSink(s.sinks[sub.ID])
	s.sinks[sub.ID] = sink
	s.applied[sub.ID] = applied{sub: sub, smtp: smtp}
	return sink, nil
}

// Backlog is the state of the subscribers' queues at one moment, for a
// single pass that waits for its deliveries (see Drained).
type Backlog struct {
	// Pending are the alerts not yet delivered (not counting the ones
	// held for a subscriber's next digest).
	Pending uint64
	// Retrying are the subscribers whose queue waits for a retry due
	// after the deadline.
	Retrying int
	// NoConsumer are the subscribers without a consumer to pull from
	// (SubscriberStatus.ConsumerError), by id: their queues cannot be
	// read, nor drain before the consumer is back; their alerts stay in
	// the stream.
	NoConsumer []string
	// Done: nothing more will be delivered before the deadline; every
	// queue is empty, held for a digest, disabled, waiting on a retry
	// beyond the deadline, or without a consumer.
	Done bool
}

// Drained reports how far the running subscribers' queues are from
// empty, given a pass that ends at deadline. A queue whose length could
// not be read is not done, unless its subscriber is known to have no
// consumer: waiting for it would only wait out the pass.
func (s *Subscribers) Drained(ctx context.Context, deadline time.Time) Backlog {
	bl := Backlog{Done: true}
	if s.d == nil {
		return bl
	}
	for _, st := range s.d.Status() {
		if st.ConsumerError != "" {
			bl.NoConsumer = append(bl.NoConsumer, st.ID)
			continue
		}
		n, err := s.d.Backlog(ctx, st.ID)
		if err != nil {
			bl.Done = false // unknown is not done
			continue
		}
		if n == 0 {
			continue
		}
		if st.Digest && uint64(st.Held) >= n {
			continue // every alert is in the subscriber's next digest
		}
		bl.Pending += n
		switch {
		case st.Disabled:
		case !st.NextRetry.IsZero() && st.NextRetry.After(deadline):
			bl.Retrying++
		default:
			bl.Done = false
		}
	}
	return bl
}

// Close stops every subscriber and closes every sink; the next Apply
// starts them all afresh.
func (s *Subscribers) Close() {
	if s.d != nil {
		s.d.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sink := range s.sinks {
		closeSink(sink)
		delete(s.sinks, id)
	}
	clear(s.applied)
}

func closeSink(sink Sink) {
	if c, ok := sink.(io.Closer); ok {
		_ = c.Close()
	}
}

// OnlyNoConsumer reports whether err, from Apply, says only that
// subscribers started without their consumers (ErrNoConsumer): they run,
// shown as such, and get their consumers as soon as they can be made.
func OnlyNoConsumer(err error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return errors.Is(err, ErrNoConsumer)
	}
	errs := j.Unwrap()
	for _, e := range errs {
		if !errors.Is(e, ErrNoConsumer) {
			return false
		}
	}
	return len(errs) > 0
}
