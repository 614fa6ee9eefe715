package notifier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

// maxDigest is how many alerts one digest may hold.
const maxDigest = 10000

// defaultDigestAckWait bounds how long a digest's held alerts stay
// invisible after a crash: the dispatcher renews them four times per wait
// while it runs. (A Nak on shutdown would not do: the server keeps naks in
// memory only, and the embedded server stops with the process.)
const defaultDigestAckWait = time.Minute

type heldAlert struct {
	msg   jetstream.Msg
	alert *news.Alert
	seq   uint64
}

// holdPolicy says which alerts a subscriber gets at once and which are
// held for a digest, and when held alerts go out.
type holdPolicy interface {
	// hold reports whether an alert arriving at now is held.
	hold(now time.Time) bool
	// sent records an alert delivered at once.
	sent(now time.Time)
	// flushAt is when alerts held from now on go out.
	flushAt(now time.Time) time.Time
}

// schedulePolicy holds every alert for the next scheduled digest.
type schedulePolicy struct{ s config.Schedule }

func (p schedulePolicy) hold(time.Time) bool             { return true }
func (p schedulePolicy) sent(time.Time)                  {}
func (p schedulePolicy) flushAt(now time.Time) time.Time { return p.s.Next(now) }

// foldPolicy delivers alerts at once, except during quiet hours and
// beyond a number per hour: those are folded into a digest sent when the
// quiet hours end, or at the end of the hour.
type foldPolicy struct {
	quiet      *config.QuietHours
	maxPerHour int
	hour       time.Time
	count      int
}

func (p *foldPolicy) hold(now time.Time) bool {
	if p.quiet != nil && p.quiet.Contains(now) {
		return true
	}
	if h := now.Truncate(time.Hour); !h.Equal(p.hour) {
		p.hour, p.count = h, 0
	}
	return p.maxPerHour > 0 && p.count >= p.maxPerHour
}

func (p *foldPolicy) sent(time.Time) { p.count++ }

func (p *foldPolicy) flushAt(now time.Time) time.Time {
	if p.quiet != nil && p.quiet.Contains(now) {
		return p.quiet.End(now)
	}
	return now.Truncate(time.Hour).Add(time.Hour)
}

// runHolding runs a subscriber whose alerts may be held for a digest
// (digest: or quiet_hours/max_per_hour). Held alerts are acknowledged only
// after the digest that holds them went out, so a restart loses nothing.
func (d *Dispatcher) runHolding(ctx context.Context, l *loop, pol holdPolicy) {
	log := d.log.With("subscriber", l.sub.ID)
	sink := l.sink.(DigestSink)
	_, scheduled := pol.(schedulePolicy)
	// held is renewed by a heartbeat of its own for as long as the loop
	// runs: while alerts are sent one by one, while a digest goes out,
	// while thousands are acknowledged.
	var heldMu sync.Mutex
	var held []heldAlert
	seen := map[string]int{} // alert id → index in held
	var next time.Time
	if scheduled {
		next = pol.flushAt(d.now())
	}
	attempt := 0
	l.set(func(s *SubscriberStatus) { s.NextDigest = next })
	defer func() {
		// Hand held alerts back, for the next digest of this or another
		// process (on a cluster at once; with the embedded server they
		// come back an ack wait after the restart).
		for _, h := range held {
			_ = h.msg.Nak()
		}
	}()
	stopBeat := bus.Heartbeat(d.digestAckWait/4, func() {
		heldMu.Lock()
		snapshot := append([]heldAlert(nil), held...)
		heldMu.Unlock()
		renew(snapshot)
	})
	defer stopBeat() // before the Naks above
	setHeld := func(h []heldAlert) {
		heldMu.Lock()
		held = h
		heldMu.Unlock()
	}
	// maxSettled is the highest stream sequence settled (sent, folded,
	// dead-lettered); the position recorded is below every held alert.
	var maxSettled uint64
	savePos := func() {
		floor := maxSettled
		for _, h := range held {
			floor = min(floor, h.seq-1)
		}
		d.savePosition(context.WithoutCancel(ctx), log, l, floor)
	}
	for ctx.Err() == nil && l.abort.Err() == nil {
		d.check(ctx, log, l, false)
		if l.disabled() {
			sleep(ctx, min(d.checkEvery, time.Second))
			continue
		}
		if len(held) < maxDigest {
			batch, done, err := bus.Pull(l.abort, l.cons, min(500, maxDigest-len(held)), time.Second)
			if err == nil {
				for msg := range batch.Messages() {
					seq := uint64(0)
					if md, err := msg.Metadata(); err == nil {
						seq = md.Sequence.Stream
					}
					a, err := d.decodeMsg(msg.Subject(), msg.Data())
					if err != nil {
						d.deadLetter(context.WithoutCancel(ctx), log, l, msg, seq, news.Alert{ID: msg.Headers().Get("Nats-Msg-Id")},
							[]Attempt{{At: d.now(), Error: "undecodable alert: " + err.Error()}}, "undecodable alert")
						continue
					}
					if a.Event != nil {
						// Events are never held: sent at once.
						d.handle(ctx, log, l, msg)
						maxSettled = max(maxSettled, seq)
						continue
					}
					mine, deliver := Fold(l.sub, &a)
					if !deliver {
						if msg.DoubleAck(context.WithoutCancel(ctx)) == nil {
							maxSettled = max(maxSettled, seq)
						}
						l.set(func(s *SubscriberStatus) { s.Folded++ })
						d.m.Delivered(l.sub.ID, "folded")
						continue
					}
					a.Topics = mine
					if i, ok := seen[a.ID]; ok {
						if held[i].seq == seq {
							// Redelivered although held (a renewal came
							// too late): keep the new delivery, whose ack
							// is the one that counts. Acking it now would
							// lose the alert if the digest then failed.
							heldMu.Lock()
							held[i].msg = msg
							heldMu.Unlock()
						} else {
							_ = msg.Ack() // the same alert published again: one is enough
						}
						continue
					}
					now := d.now()
					if !pol.hold(now) {
						pol.sent(now)
						d.handle(ctx, log, l, msg)
						maxSettled = max(maxSettled, seq)
						continue
					}
					if len(held) == 0 && !scheduled {
						next = pol.flushAt(now)
					}
					seen[a.ID] = len(held)
					setHeld(append(held, heldAlert{msg: msg, alert: &a, seq: seq}))
				}
				done()
				if err := batch.Error(); err != nil && ctx.Err() == nil && l.abort.Err() == nil &&
					!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
					d.check(ctx, log, l, true)
				}
				savePos()
			} else if l.abort.Err() == nil {
				d.check(ctx, log, l, true)
				sleep(ctx, time.Second)
			}
		} else {
			sleep(ctx, time.Second)
		}
		now := d.now()
		l.set(func(s *SubscriberStatus) { s.Held, s.NextDigest = len(held), next })
		if next.IsZero() || now.Before(next) {
			continue
		}
		if len(held) == 0 {
			next = time.Time{}
			if scheduled {
				next = pol.flushAt(now)
			}
			l.set(func(s *SubscriberStatus) { s.NextDigest = next })
			continue
		}
		alerts := make([]*news.Alert, len(held))
		for i, h := range held {
			alerts[i] = h.alert
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.sub.Timeout+time.Minute)
		dstart := time.Now()
		retry, err := sink.NotifyDigest(dctx, alerts)
		latency := time.Since(dstart)
		cancel()
		attempt++
		switch {
		case err == nil:
			for _, h := range held {
				if err := h.msg.DoubleAck(context.WithoutCancel(ctx)); err != nil {
					log.Warn("ack digest alert", "alert", h.alert.ID, "err", err)
				}
			}
			d.m.Delivered(l.sub.ID, "ok")
			log.Info("digest sent", "outcome", "ok", "alerts", len(held), "attempt", attempt, "latency", latency)
			for _, h := range held {
				maxSettled = max(maxSettled, h.seq)
			}
			l.set(func(s *SubscriberStatus) {
				s.Delivered += int64(len(held))
				s.LastResult, s.LastError, s.LastAt, s.NextRetry = "ok", "", now, time.Time{}
			})
			setHeld(nil)
			seen, attempt = map[string]int{}, 0
			next = time.Time{}
			if scheduled {
				next = pol.flushAt(now)
			}
		case !retry || attempt >= l.sub.Retry.Attempts:
			log.Error("digest failed for good; its alerts go to dead letters", "alerts", len(held), "attempt", attempt, "err", err)
			d.m.Delivered(l.sub.ID, "dead")
			for _, h := range held {
				d.deadLetter(context.WithoutCancel(ctx), log, l, h.msg, h.seq, *h.alert,
					[]Attempt{{At: now.UTC(), Error: err.Error()}}, fmt.Sprintf("digest gave up after %d tries: %v", attempt, err))
				maxSettled = max(maxSettled, h.seq)
			}
			l.set(func(s *SubscriberStatus) { s.Failures++; s.LastError, s.LastAt = err.Error(), now })
			setHeld(nil)
			seen, attempt = map[string]int{}, 0
			next = time.Time{}
			if scheduled {
				next = pol.flushAt(now)
			}
		default:
			delay := l.sub.Retry.Delay(attempt, rand.Float64())
			log.Warn("digest failed, will retry", "alerts", len(held), "attempt", attempt, "retry_in", delay, "err", err)
			d.m.Delivered(l.sub.ID, "retry")
			next = now.Add(delay)
			l.set(func(s *SubscriberStatus) {
				s.Failures++
				s.LastResult, s.LastError, s.LastAt, s.NextRetry = "retry", err.Error(), now, next
			})
		}
		l.set(func(s *SubscriberStatus) { s.Held, s.NextDigest = len(held), next })
		savePos()
	}
}

// renew tells the server the held alerts are still being worked on, so
// that their ack wait starts again.
func renew(held []heldAlert) {
	for _, h := range held {
		_ = h.msg.InProgress()
	}
}
