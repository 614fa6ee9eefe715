package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"newswatch/bus"
	"newswatch/config"
)

// createConsumer creates or updates a subscriber's consumer and returns
// it with the subscriber's recorded position.
//
// An existing consumer keeps its place (its deliver policy cannot change
// anyway). A missing one starts where the subscriber's recorded position
// says: the alert after the last one it was done with, so that a consumer
// lost to an operator's mistake or a damaged store skips nothing that was
// queued; once it is made, that is logged at ERROR (quiet: not, for a
// loss already reported). One that cannot be made is the caller's to
// report (consumerFailed): one ERROR line for the fault, not two. With no
// position recorded, the subscriber is new and starts with the alerts
// raised from now on.
func (d *Dispatcher) createConsumer(ctx context.Context, log *slog.Logger, spec bus.ConsumerSpec, quiet bool) (*bus.Consumer, uint64, error) {
	id := strings.TrimPrefix(spec.Durable, "notify-")
	var (
		lastErr error
		lost    bool // it was missing, and made from the position
	)
	// More than once: another replica may create the consumer between our
	// look and our create, and then ours must follow its place. (A
	// consumer made anew with a stale state is made again by
	// bus.EnsureConsumer.)
	for range 3 {
		pos, recorded, err := position(ctx, d.b, id)
		if err != nil {
			// Without the position a lost consumer would be recreated
			// "from now on", skipping its queue: better not start.
			return nil, 0, err
		}
		s := spec
		st, found, err := d.b.LookupConsumer(ctx, d.b.Names.AlertStream, spec.Durable)
		switch {
		case err != nil:
			return nil, 0, fmt.Errorf("subscriber %s: %w", id, err)
		case found && !recorded:
			// Consumers made before positions were recorded: start
			// recording from where this one stands.
			pos = st.AckFloor
			if err := setPosition(ctx, d.b, id, pos); err != nil {
				log.Warn("record delivery position", "err", err)
			}
		case found:
			// It keeps its place (see EnsureConsumer).
		case recorded:
			lost = true
		default:
			last, err := d.b.StreamLastSeq(ctx, d.b.Names.AlertStream)
			if err != nil {
				return nil, 0, fmt.Errorf("subscriber %s: alert stream: %w", id, err)
			}
			pos = last
			if err := setPosition(ctx, d.b, id, pos); err != nil {
				return nil, 0, err
			}
		}
		// A new consumer starts after the position. One found keeps its
		// place, but if it is lost between our look and our create, it is
		// made at the position too, not with DeliverAll (which would send
		// the whole stream again).
		s.StartSeq = pos + 1
		cons, err := d.b.EnsureConsumer(ctx, d.b.Names.AlertStream, s)
		if err != nil {
			lastErr = err
			continue
		}
		if lost && !quiet {
			log.Error("the subscriber's consumer was lost; made again from its last delivered position, so no queued alert is skipped",
				"consumer", spec.Durable, "from_seq", pos+1)
			d.b.Health.ConsumerRemade(spec.Durable)
		}
		return cons, pos, nil
	}
	return nil, 0, fmt.Errorf("subscriber %s: %w", id, lastErr)
}

// check runs between deliveries, every checkEvery: it recreates the
// subscriber's consumer if it is gone, and follows its disabled state in
// the store (set by another replica's 410, cleared by `newswatch
// subscribers enable`). force checks now. lost reports a consumer that
// is gone and could not be made again.
func (d *Dispatcher) check(ctx context.Context, log *slog.Logger, l *loop, force bool) (lost bool) {
	now := d.now()
	if !force && now.Before(l.nextCheck) {
		return l.lost
	}
	l.nextCheck = now.Add(d.checkEvery)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if u := l.unstored; u != nil {
		if _, err := setDisabled(cctx, d.b, l.sub, u.Reason, u.At); err != nil {
			log.Warn("store disabled state", "err", err)
		} else {
			l.unstored = nil
		}
	}
	dis, err := Disabled(cctx, d.b, l.sub.ID)
	switch {
	case err != nil:
		log.Warn("check disabled state", "err", err)
	case dis == nil && l.unstored != nil:
		// Not stored yet: still disabled here.
	case dis == nil && l.disabled():
		log.Info("subscriber re-enabled; delivering its queued alerts")
		l.set(func(s *SubscriberStatus) {
			s.Disabled, s.DisabledReason, s.DisabledAt = false, "", time.Time{}
			if s.LastResult == "gone" {
				s.LastResult = ""
			}
		})
	case dis != nil && !l.disabled():
		log.Error("subscriber disabled (410 Gone seen by another replica); its alerts stay queued", "reason", dis.Reason)
		l.set(func(s *SubscriberStatus) {
			s.Disabled, s.DisabledReason, s.DisabledAt, s.LastResult = true, dis.Reason, dis.At, "gone"
		})
	}
	// A loop started without its consumer makes it even when another
	// replica made it meanwhile.
	if _, found, err := d.b.LookupConsumer(cctx, d.b.Names.AlertStream, l.spec.Durable); l.cons == nil || (err == nil && !found) {
		cons, pos, err := d.createConsumer(cctx, log, l.spec, l.lost)
		if err != nil {
			l.lost = true
			d.consumerFailed(log, l, "recreate", "its consumer was lost and cannot be made again", err)
			l.nextCheck = now.Add(time.Second)
			return true
		}
		l.cons, l.position, l.lost = cons, pos, false
		d.consumerWorks(log, l)
	}
	return false
}

// pullFailsFault is how many pulls in a row must fail before a
// subscriber whose consumer exists is reported without one: a pull or
// two lost to a reconnect or a leader election is no fault.
const pullFailsFault = 3

// pullFailed follows a failed pull from the subscriber's consumer: the
// consumer may be gone (see check); one that is there but cannot be
// pulled from for pullFailsFault pulls in a row is reported as well.
func (d *Dispatcher) pullFailed(ctx context.Context, log *slog.Logger, l *loop, err error) {
	d.m.ConsumerError(l.sub.ID, "pull")
	l.pullFails++
	if !d.check(ctx, log, l, true) && l.pullFails >= pullFailsFault {
		d.consumerFailed(log, l, "pull", "pulls from its consumer fail", err)
	}
}

// consumerFaultKey is the bus fault of a subscriber without a consumer
// to pull from.
func consumerFaultKey(id string) string { return bus.KindConsumerError + ":" + id }

// consumerErrorLog is how often an ERROR repeats while a subscriber has
// no consumer to pull from.
const consumerErrorLog = time.Minute

// consumerFailed reports that the subscriber has no consumer to pull
// from (what, for op), so nothing is delivered to it: in its status, as a
// blocking fault (/readyz, the status page's problems, an event), in the
// metrics, and at ERROR when it begins and every consumerErrorLog while
// it lasts: one line, this one, with the fault's key (the bus does not
// log it again). Its alerts stay in the stream meanwhile.
func (d *Dispatcher) consumerFailed(log *slog.Logger, l *loop, op, what string, err error) {
	now := d.now()
	if op == "recreate" {
		d.m.ConsumerError(l.sub.ID, op)
	}
	l.consTries++
	first := l.consSince.IsZero()
	if first {
		l.consSince = now
	}
	// createConsumer's errors name the subscriber already.
	problem := what + ": " + strings.TrimPrefix(err.Error(), "subscriber "+l.sub.ID+": ")
	l.set(func(s *SubscriberStatus) { s.ConsumerError, s.ConsumerErrorSince = problem, l.consSince })
	d.b.Health.ReportLogged(consumerFaultKey(l.sub.ID), bus.KindConsumerError,
		fmt.Sprintf("subscriber %s: %s; nothing is delivered to it, its alerts stay queued (failed tries: %d)", l.sub.ID, problem, l.consTries))
	if first || now.Sub(l.consLogged) >= consumerErrorLog {
		l.consLogged = now
		log.Error("subscriber without a consumer to pull from: nothing is delivered to it; its alerts stay queued and go out once it is back",
			"op", op, "fault", consumerFaultKey(l.sub.ID), "consumer", l.spec.Durable, "problem", what,
			"tries", l.consTries, "since", l.consSince, "err", err)
	}
}

// consumerWorks notes that the subscriber's consumer is there and can be
// pulled from, and clears a fault reported before.
func (d *Dispatcher) consumerWorks(log *slog.Logger, l *loop) {
	l.pullFails = 0
	if l.consSince.IsZero() {
		return
	}
	log.Info("the subscriber's consumer works again; delivering its queued alerts",
		"consumer", l.spec.Durable, "tries", l.consTries, "lasted", d.now().Sub(l.consSince).Round(time.Second))
	l.consSince, l.consTries = time.Time{}, 0
	l.set(func(s *SubscriberStatus) { s.ConsumerError, s.ConsumerErrorSince = "", time.Time{} })
	d.b.Health.Clear(consumerFaultKey(l.sub.ID))
}

// recordPosition notes that the subscriber is done with every alert up to
// stream sequence seq (for a loop with one alert in flight, the one just
// settled), so a lost consumer is recreated after it.
func (d *Dispatcher) recordPosition(ctx context.Context, log *slog.Logger, l *loop, seq uint64) {
	if l.spec.MaxAckPending != 1 {
		// A holding loop has alerts held below the ones it settles:
		// runHolding records its floor itself.
		return
	}
	d.savePosition(ctx, log, l, seq)
}

func (d *Dispatcher) savePosition(ctx context.Context, log *slog.Logger, l *loop, seq uint64) {
	if seq <= l.position {
		return
	}
	if err := setPosition(ctx, d.b, l.sub.ID, seq); err != nil {
		log.Warn("record delivery position", "err", err)
		return
	}
	l.position = seq
}

// startDisabled reads the subscriber's disabled state at start: a config
// changed since the 410 enables it again (stale is then the record to
// drop with dropDisabled, once the old loop has stopped: a loop still
// running would take the missing record for an Enable and deliver to the
// old receiver); an unchanged one leaves it disabled, and says how to
// enable it.
func (d *Dispatcher) startDisabled(ctx context.Context, log *slog.Logger, sub config.Subscriber) (dis, stale *DisabledState, err error) {
	dis, err = Disabled(ctx, d.b, sub.ID)
	if err != nil || dis == nil {
		return nil, nil, err
	}
	if dis.Config != configDigest(sub) {
		return nil, dis, nil
	}
	log.Warn("subscriber stays disabled: "+EnableHint(sub.ID), "reason", dis.Reason, "disabled_at", dis.At)
	return dis, nil, nil
}

// dropDisabled removes the disabled record of a subscriber whose config
// changed since the 410.
func (d *Dispatcher) dropDisabled(ctx context.Context, log *slog.Logger, id string, stale *DisabledState) error {
	if err := d.b.ForgetNote(ctx, disabledKey(id)); err != nil {
		return fmt.Errorf("subscriber %s: enable: %w", id, err)
	}
	log.Info("subscriber re-enabled: its config changed since it was disabled by 410 Gone; delivering its queued alerts",
		"disabled_at", stale.At)
	return nil
}

// EnableHint says how to enable a subscriber disabled by 410 Gone.
func EnableHint(id string) string {
	return "its alerts stay queued; to deliver them, change its config (e.g. its url) and reload, or run `newswatch subscribers enable " + id + "`"
}
