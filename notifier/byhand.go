package notifier

import (
	"context"
	"time"

	"newswatch/config"
	"newswatch/news"
)

// DeliveryResult is what a delivery by hand (see Subscribers.Deliver) did.
type DeliveryResult struct {
	// Tried: the subscriber's sink was reached. False when none could
	// be built for it (the error says why).
	Tried bool
	// FollowUp: the alert went out as a later report of a story the
	// subscriber already got (email: a reply in its thread; webhook:
	// type "alert.followup" with a "story" object).
	FollowUp bool
	// Retry: the delivery failed for now, and the subscriber's queue
	// would try it again; false for a final failure.
	Retry   bool
	Latency time.Duration
}

// Deliver sends alert to sub now, outside its queue (dead-letter replay,
// test-delivery), the way the queue does: through the subscriber's
// running sink when it has one (else a new one, see Sink), as a follow-up
// when it continues a story of the subscriber's, counted in the
// subscriber's status and the deliveries metric and logged "delivered".
// A failure is logged and counted as a failed try (outcome "failed" in
// the deliveries metric); nothing is retried or dead-lettered: the caller
// keeps what it delivers from.
//
// The alert is delivered even when the queue would fold it (see Fold) or
// skip its event kind: it was asked for by hand. alert is not changed.
func (s *Subscribers) Deliver(ctx context.Context, sub config.Subscriber, smtp config.SMTP, alert *news.Alert) (DeliveryResult, error) {
	sink, err := s.Sink(sub, smtp)
	if err != nil {
		return DeliveryResult{}, err
	}
	return s.hand.deliverByHand(ctx, sub, sink, alert)
}

// deliverByHand delivers alert to sub through sink with the queue's own
// steps (deliver, countDelivered), counting in the subscriber's running
// loop when there is one.
func (d *Dispatcher) deliverByHand(ctx context.Context, sub config.Subscriber, sink Sink, alert *news.Alert) (DeliveryResult, error) {
	d.mu.Lock()
	l := d.loops[sub.ID]
	d.mu.Unlock()
	if l == nil {
		// Not running here: the status is counted in a loop of its own,
		// which is not kept.
		l = &loop{sub: sub, sink: sink}
		l.status.ID = sub.ID
	}
	log := d.log.With("subscriber", sub.ID, "alert", alert.ID, "by_hand", true)
	a := *alert
	var mine []news.AlertTopic
	if a.Event == nil {
		mine, _ = Fold(sub, &a)
		a.Topics = mine
		log = log.With("topics", topicIDs(mine))
	}
	start := time.Now()
	followUp, retry, err := d.deliver(ctx, l, sink, &a, mine)
	res := DeliveryResult{Tried: true, FollowUp: followUp, Retry: retry, Latency: time.Since(start)}
	if err != nil {
		l.set(func(s *SubscriberStatus) { s.Failures++; s.LastError, s.LastAt = err.Error(), d.now() })
		// Its own outcome: nothing is retried or dead-lettered.
		d.m.Delivered(sub.ID, "failed")
		log.Warn("delivery by hand failed", "retry", retry, "latency", res.Latency, "err", err)
		return res, err
	}
	d.countDelivered(log, l, 1, followUp, res.Latency)
	return res, nil
}
