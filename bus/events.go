package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/internal/clock"
	"newswatch/news"
)

// EventSubject is where operational events of a kind are published
// ("source.failing" → "<prefix>.events.source.failing"). The alert
// stream holds them, so a subscriber's consumer can take both.
func (n Names) EventSubject(kind string) string { return n.Prefix + ".events." + kind }

// EventQueue is how many operational events wait in memory for the store
// to take them; beyond it the oldest is dropped (and logged). Events are
// most needed when the store fails, and then they cannot be stored
// either: they wait here, retried, and are lost if the process stops
// before the store recovers.
const EventQueue = 1000

// Events publishes operational events. Emit never blocks; Run publishes
// what was emitted, in order, retrying each event until the store takes
// it. Every event carries a de-duplication id, so replicas that raise the
// same event publish it once.
type Events struct {
	b    *Bus
	log  *slog.Logger
	host string

	mu      sync.Mutex
	queue   []news.Event
	dropped int64
	wake    chan struct{}

	pub sync.Mutex // one publisher at a time: Run or Flush
}

// NewEvents returns the event publisher of a bus.
func NewEvents(b *Bus, log *slog.Logger) *Events {
	host, _ := os.Hostname()
	return &Events{b: b, log: log, host: host, wake: make(chan struct{}, 1)}
}

// Emit queues an event for publishing.
func (e *Events) Emit(ev news.Event) {
	if e == nil {
		return
	}
	if ev.V == 0 {
		ev.V = news.Version
	}
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	if ev.Host == "" {
		ev.Host = e.host
	}
	e.mu.Lock()
	if len(e.queue) >= EventQueue {
		lost := e.queue[0]
		e.queue = e.queue[1:]
		e.dropped++
		e.log.Error("operational event dropped: the store has not taken events for a while and the queue is full",
			"event", lost.Event, "id", lost.ID, "queue", EventQueue)
	}
	e.queue = append(e.queue, ev)
	e.mu.Unlock()
	e.log.Debug("operational event", "event", ev.Event, "id", ev.ID, "summary", ev.Summary)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of events not yet published.
func (e *Events) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.queue)
}

// Dropped is the number of events dropped because the queue was full.
func (e *Events) Dropped() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

// Run publishes queued events until ctx ends, retrying with back-off
// while the store refuses them.
func (e *Events) Run(ctx context.Context) {
	wait := 250 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		n, err := e.publish(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				e.log.Error("publish operational event; it stays queued and is retried", "pending", e.Pending(), "err", err)
			}
			failing = true
			clock.Sleep(ctx, wait)
			wait = min(2*wait, 30*time.Second)
			continue
		case n > 0 && failing:
			e.log.Info("operational events published again", "pending", e.Pending())
		}
		failing, wait = false, 250*time.Millisecond
		select {
		case <-ctx.Done():
		case <-e.wake:
		}
	}
}

// Flush publishes every queued event now; it stops at the first one the
// store refuses, which stays queued.
func (e *Events) Flush(ctx context.Context) error {
	_, err := e.publish(ctx)
	return err
}

// publish publishes queued events in order until the queue is empty or
// one fails; it returns how many it published.
func (e *Events) publish(ctx context.Context) (int, error) {
	e.pub.Lock()
	defer e.pub.Unlock()
	n := 0
	for {
		e.mu.Lock()
		if len(e.queue) == 0 {
			e.mu.Unlock()
			return n, nil
		}
		ev := e.queue[0]
		e.mu.Unlock()
		data, err := json.Marshal(ev)
		if err != nil {
			return n, fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		opts := []jetstream.PublishOpt{jetstream.WithMsgID(ev.ID)}
		if ev.Event == "heartbeat" {
			// A heartbeat is worth nothing once the next is due: it
			// expires, so that months of them do not fill the alert
			// stream, and one stuck behind a subscriber's failing
			// delivery is not sent late (its absence is the news).
			opts = append(opts, jetstream.WithMsgTTL(max(2*ev.Next.Sub(ev.At), time.Minute)))
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = e.b.JS.Publish(pctx, e.b.Names.EventSubject(ev.Event), data, opts...)
		cancel()
		if err != nil {
			return n, fmt.Errorf("publish event %s: %w", ev.ID, err)
		}
		e.mu.Lock()
		// Emit may have dropped the head meanwhile; remove this event
		// only if it is still there.
		if len(e.queue) > 0 && e.queue[0].ID == ev.ID {
			e.queue = e.queue[1:]
		}
		e.mu.Unlock()
		n++
	}
}

// FaultEvent is the operational event of a fault: store.error or
// data.lost. Its id is the fault's own occurrence, so every stage that
// reports it raises one event.
func FaultEvent(f Fault) news.Event {
	what := "store error"
	switch f.Kind {
	case KindDataLost:
		what = "data lost"
	case KindConsumerError:
		what = "subscriber without a consumer"
		if strings.HasPrefix(f.Key, StageConsumerFault("")) {
			what = "stage without a consumer"
		}
	}
	return news.Event{
		ID:      fmt.Sprintf("%s:%s:%d", f.Kind, f.Key, f.Since.UnixNano()),
		Event:   f.Kind,
		At:      f.Since,
		Since:   f.Since,
		Summary: what + ": " + f.Detail,
		Detail:  f.Key + ": " + f.Detail,
	}
}
