package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

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

// digestAttempts is the pseudo alert id under which a subscriber's
// failed tries of its pending digest are kept (see recordAttempt), so
// that a restart does not give a failing digest its tries afresh.
const digestAttempts = "digest"

type heldAlert struct {
	msg   bus.Msg
	alert *news.Alert
	seq   uint64
}

// heldSet is the alerts a digest holds. The loop changes it; the
// heartbeat that renews them reads it from a goroutine of its own.
type heldSet struct {
	mu     sync.Mutex
	alerts []heldAlert
	seen   map[string]int // alert id → index in alerts
}

func (h *heldSet) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.alerts)
}

func (h *heldSet) add(a heldAlert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]int{}
	}
	h.seen[a.alert.ID] = len(h.alerts)
	h.alerts = append(h.alerts, a)
}

// again takes a held alert's new delivery: it reports whether the alert
// is held, and whether m is that same message (same sequence) delivered
// again, whose ack is then the one that counts.
func (h *heldSet) again(id string, seq uint64, m bus.Msg) (held, same bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, ok := h.seen[id]
	if !ok {
		return false, false
	}
	if h.alerts[i].seq != seq {
		return true, false
	}
	h.alerts[i].msg = m
	return true, true
}

func (h *heldSet) snapshot() []heldAlert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]heldAlert(nil), h.alerts...)
}

func (h *heldSet) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alerts, h.seen = nil, nil
}

// floor is the highest sequence below every held alert, at most top.
func (h *heldSet) floor(top uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		top = min(top, a.seq-1)
	}
	return top
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

// digestLoop runs a subscriber whose alerts may be held for a digest
// (digest: or quiet_hours/max_per_hour). Held alerts are acknowledged only
// after the digest that holds them went out, so a restart loses nothing.
type digestLoop struct {
	d         *Dispatcher
	l         *loop
	log       *slog.Logger
	pol       holdPolicy
	scheduled bool
	sink      DigestSink
	lp        *bus.Loop

	// held is renewed by a heartbeat of its own for as long as the loop
	// runs: while alerts are sent one by one, while a digest goes out,
	// while thousands are acknowledged.
	held    heldSet
	next    time.Time // when the held alerts go out; zero: none due
	attempt int       // failed tries of the pending digest
	// maxSettled is the highest stream sequence settled (sent, folded,
	// dead-lettered); the position recorded is below every held alert.
	maxSettled uint64
}

func (d *Dispatcher) runHolding(ctx context.Context, l *loop, pol holdPolicy) {
	g := &digestLoop{d: d, l: l, log: d.log.With("subscriber", l.sub.ID), pol: pol, sink: l.sink.(DigestSink)}
	_, g.scheduled = pol.(schedulePolicy)
	g.lp = d.consumeLoop(g.log, l)
	g.lp.Room, g.lp.After = g.room, g.after
	if g.scheduled {
		g.next = pol.flushAt(d.now())
	}
	g.attempt = d.storedAttempts(ctx, g.log, l.sub.ID, digestAttempts)
	l.set(func(s *SubscriberStatus) { s.NextDigest = g.next })
	stopBeat := bus.Heartbeat(d.digestAckWait/4, func() { g.renew(g.held.snapshot()) })
	defer g.release(stopBeat)
	_ = g.lp.Run(ctx, d.source(g.log, l), g.handle)
}

// release hands held alerts back once the heartbeat stopped, for the next
// digest of this or another process (on a cluster at once; with the
// embedded server they come back an ack wait after the restart).
func (g *digestLoop) release(stopBeat func()) {
	stopBeat()
	held := g.held.snapshot()
	g.holdErrors("release", "hand back held alerts; they come back after their ack wait", held, func(m bus.Msg) error { return m.Retry(0) })
}

// room is how many alerts to pull now: none while disabled or full.
func (g *digestLoop) room(ctx context.Context) int {
	g.d.check(ctx, g.log, g.l, false)
	if g.l.disabled() {
		return 0
	}
	if n := g.held.len(); n < maxDigest {
		return min(500, maxDigest-n)
	}
	return 0
}

// handle holds an alert for the digest, or has it sent at once (events,
// alerts the policy lets through), folded or settled as a repeat.
func (g *digestLoop) handle(ctx context.Context, m bus.Msg) bus.Result {
	_, seq := delivery(m)
	a, err := g.d.decodeMsg(m.Subject(), m.Data())
	if err != nil {
		return g.d.undecodable(g.log, g.l, m, seq, err)
	}
	if a.Event != nil {
		// Events are never held: sent at once.
		return g.settles(g.d.handle(ctx, g.log, g.l, m), seq)
	}
	mine, deliver := Fold(g.l.sub, &a)
	if !deliver {
		return g.settles(g.d.folded(g.log, g.l, seq, mine[0].ID, a.Topic), seq)
	}
	a.Topics = mine
	if held, same := g.held.again(a.ID, seq, m); same {
		// Redelivered although held (a renewal came too late): the new
		// delivery, whose ack is the one that counts, is kept. Acking it
		// now would lose the alert if the digest then failed.
		return bus.Hold()
	} else if held {
		return bus.Ack() // the same alert published again: one is enough
	}
	now := g.d.now()
	if !g.pol.hold(now) {
		g.pol.sent(now)
		return g.settles(g.d.handle(ctx, g.log, g.l, m), seq)
	}
	if g.held.len() == 0 && !g.scheduled {
		g.next = g.pol.flushAt(now)
	}
	g.held.add(heldAlert{msg: m, alert: &a, seq: seq})
	return bus.Hold()
}

// settles notes seq as settled once r is carried out (a hold or a retry
// leaves it unsettled; a dead letter that could not be stored runs no
// Then).
func (g *digestLoop) settles(r bus.Result, seq uint64) bus.Result {
	if o := r.Outcome(); o == bus.OutcomeHold || o == bus.OutcomeRetry {
		return r
	}
	return r.Then(func(context.Context, error) { g.maxSettled = max(g.maxSettled, seq) })
}

// after runs after every pull: it records the position and sends the
// digest when it is due.
func (g *digestLoop) after(ctx context.Context) {
	if g.l.disabled() {
		return
	}
	g.savePos(ctx)
	g.flushIfDue(ctx)
}

func (g *digestLoop) savePos(ctx context.Context) {
	g.d.savePosition(context.WithoutCancel(ctx), g.log, g.l, g.held.floor(g.maxSettled))
}

func (g *digestLoop) setStatus() {
	n := g.held.len()
	g.l.set(func(s *SubscriberStatus) { s.Held, s.NextDigest = n, g.next })
}

// nextSlot is when the next digest is due after one went out at now.
func (g *digestLoop) nextSlot(now time.Time) time.Time {
	if g.scheduled {
		return g.pol.flushAt(now)
	}
	return time.Time{}
}

// flushIfDue sends the held alerts as one digest when it is due.
func (g *digestLoop) flushIfDue(ctx context.Context) {
	now := g.d.now()
	g.setStatus()
	if g.next.IsZero() || now.Before(g.next) {
		return
	}
	held := g.held.snapshot()
	if len(held) == 0 {
		g.next = g.nextSlot(now)
		g.setStatus()
		return
	}
	alerts := make([]*news.Alert, len(held))
	for i, h := range held {
		alerts[i] = h.alert
	}
	ctx = context.WithoutCancel(ctx)
	dctx, cancel := context.WithTimeout(ctx, g.l.sub.Timeout+time.Minute)
	start := time.Now()
	retry, err := g.sink.NotifyDigest(dctx, alerts)
	latency := time.Since(start)
	cancel()
	if err == nil {
		g.sent(ctx, now, held, latency)
	} else {
		attempts := g.d.recordAttempt(ctx, g.log, g.l.sub.ID, digestAttempts, err)
		// The store's count rules, unless it failed to keep the tries.
		g.attempt = max(g.attempt+1, len(attempts))
		if !retry || g.attempt >= g.l.sub.Retry.Attempts {
			g.gaveUp(ctx, now, held, attempts, err)
		} else {
			g.retryLater(now, len(held), err)
		}
	}
	g.setStatus()
	g.savePos(ctx)
}

// sent acks the alerts of a digest that went out.
func (g *digestLoop) sent(ctx context.Context, now time.Time, held []heldAlert, latency time.Duration) {
	for _, h := range held {
		_ = g.lp.Settle(ctx, h.msg, bus.Ack().Then(func(_ context.Context, err error) {
			if err != nil {
				g.log.Warn("ack digest alert", "alert", h.alert.ID, "err", err)
			}
		}))
		g.maxSettled = max(g.maxSettled, h.seq)
	}
	g.d.m.Delivered(g.l.sub.ID, "ok")
	g.log.Info("digest sent", "outcome", "ok", "alerts", len(held), "attempt", g.attempt+1, "latency", latency)
	g.done(ctx, now)
	g.l.set(func(s *SubscriberStatus) {
		s.Delivered += int64(len(held))
		s.LastResult, s.LastError, s.LastAt, s.NextRetry = "ok", "", now, time.Time{}
		s.Held, s.NextDigest = 0, g.next
	})
}

// gaveUp moves the alerts of a digest that failed for good to the
// dead-letter stream, each with every try's error.
func (g *digestLoop) gaveUp(ctx context.Context, now time.Time, held []heldAlert, attempts []Attempt, err error) {
	g.log.Error("digest failed for good; its alerts go to dead letters", "alerts", len(held), "attempt", g.attempt, "err", err)
	g.d.m.Delivered(g.l.sub.ID, "dead")
	reason := fmt.Sprintf("digest gave up after %d tries: %v", g.attempt, err)
	for _, h := range held {
		// One the dead-letter stream refused is handed back, not
		// settled: the position stays below it.
		_ = g.lp.Settle(ctx, h.msg, g.settles(g.d.deadLetter(g.log, g.l, h.seq, *h.alert, attempts, reason), h.seq))
	}
	g.done(ctx, now)
	g.l.set(func(s *SubscriberStatus) {
		s.Failures++
		s.LastError, s.LastAt = err.Error(), now
		s.Held, s.NextDigest = 0, g.next
	})
}

// done starts afresh after a digest was settled; the caller's status
// update says so.
func (g *digestLoop) done(ctx context.Context, now time.Time) {
	g.held.clear()
	g.attempt = 0
	g.d.forgetAttempts(ctx, g.log, g.l.sub.ID, digestAttempts)
	g.next = g.nextSlot(now)
}

// retryLater tries the digest again after the subscriber's back-off.
func (g *digestLoop) retryLater(now time.Time, n int, err error) {
	delay := g.l.sub.Retry.Delay(g.attempt, rand.Float64())
	g.log.Warn("digest failed, will retry", "alerts", n, "attempt", g.attempt, "retry_in", delay, "err", err)
	g.d.m.Delivered(g.l.sub.ID, "retry")
	g.next = now.Add(delay)
	g.l.set(func(s *SubscriberStatus) {
		s.Failures++
		s.LastResult, s.LastError, s.LastAt, s.NextRetry = "retry", err.Error(), now, g.next
	})
}

// renew tells the server the held alerts are still being worked on, so
// that their ack wait starts again. One not renewed is delivered again
// after its ack wait, to be held again (see heldSet.again).
func (g *digestLoop) renew(held []heldAlert) {
	g.holdErrors("renew", "renew held alerts; they may be delivered again", held, func(m bus.Msg) error { return m.InProgress() })
}

// holdErrors runs f on every held alert, and logs and counts (as op) the
// ones that failed: one WARN per round, not one per alert (a digest holds
// thousands).
func (g *digestLoop) holdErrors(op, msg string, held []heldAlert, f func(bus.Msg) error) {
	failed := 0
	var first error
	for _, h := range held {
		if err := f(h.msg); err != nil {
			if failed++; first == nil {
				first = err
			}
		}
	}
	if failed == 0 {
		return
	}
	g.d.m.DigestHoldErrors(g.l.sub.ID, op, failed)
	g.log.Warn(msg, "failed", failed, "held", len(held), "err", first)
}
