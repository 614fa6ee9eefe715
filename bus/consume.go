package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/internal/clock"
)

// Msg is a message taken from a consumer, as a stage sees it: its
// content, its place in the stream, and the ways to settle it. Stage code
// names no NATS type, and a test can hand a loop a fake.
type Msg interface {
	Subject() string
	Data() []byte
	// Header is the first value of a header, "" when it is unset.
	Header(key string) string
	// Meta is where the message stands in its stream.
	Meta() (Meta, error)
	// Ack settles the message as done and waits for the server to
	// confirm it, so that a confirmed ack is never redelivered.
	Ack(ctx context.Context) error
	// Retry hands the message back, to be delivered again after delay
	// (at once when delay is 0).
	Retry(delay time.Duration) error
	// Term settles the message as never to be delivered again.
	Term() error
	// InProgress starts the message's ack wait again.
	InProgress() error
}

// Meta is a message's place in its stream.
type Meta struct {
	Seq       uint64    // stream sequence
	Delivered uint64    // deliveries so far, this one included
	Stored    time.Time // when the stream took it
}

// Outcome is how a handled message is settled.
type Outcome int

// The outcomes of a Result.
const (
	OutcomeAck        Outcome = iota // done
	OutcomeRetry                     // delivered again after a delay
	OutcomeDeadLetter                // handed to the loop's dead-letter hook, then terminated
	OutcomeTerm                      // never delivered again
	OutcomeHold                      // kept by the handler, which settles it later
)

var outcomeNames = [...]string{"ack", "retry", "dead-letter", "term", "hold"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is what a handler returns: how the loop settles its message.
type Result struct {
	outcome Outcome
	delay   time.Duration
	reason  string
	detail  any
	then    []func(ctx context.Context, err error)
}

// Ack settles the message as done.
func Ack() Result { return Result{outcome: OutcomeAck} }

// RetryAfter hands the message back, to be delivered again after d (at
// once when d is 0).
func RetryAfter(d time.Duration) Result { return Result{outcome: OutcomeRetry, delay: max(d, 0)} }

// DeadLetter hands the message to the loop's dead-letter hook with a
// reason and whatever the hook needs to record it (detail), then
// terminates it. If the hook fails the message is delivered again after
// the loop's DeadLetterRetry: it is never dropped.
func DeadLetter(reason string, detail any) Result {
	return Result{outcome: OutcomeDeadLetter, reason: reason, detail: detail}
}

// Term settles the message as never to be delivered again.
func Term() Result { return Result{outcome: OutcomeTerm} }

// Hold leaves the message to the handler, which settles it later (with
// Loop.Settle) and keeps it from timing out meanwhile.
func Hold() Result { return Result{outcome: OutcomeHold} }

// Then adds f, to run once the message is settled, with the settle's
// error. A Result with no Then has a failed settle logged at WARN. f does
// not run for a hold, nor for a dead letter whose hook failed.
func (r Result) Then(f func(ctx context.Context, err error)) Result {
	r.then = append(r.then[:len(r.then):len(r.then)], f) // a copy: r may be shared
	return r
}

// Outcome is how the message is settled.
func (r Result) Outcome() Outcome { return r.outcome }

// Delay is a retry's delay.
func (r Result) Delay() time.Duration { return r.delay }

// Reason is a dead letter's reason.
func (r Result) Reason() string { return r.reason }

// Detail is what the handler gave the dead-letter hook.
func (r Result) Detail() any { return r.detail }

// Handler handles one message and says how to settle it. Its context is
// not cancelled on shutdown: a message taken is finished.
type Handler func(ctx context.Context, m Msg) Result

// Source is where a loop takes its messages from: a Consumer, or a fake.
type Source interface {
	// Pull asks for up to n messages, waiting at most wait, and calls
	// each for every message as it arrives. A wait that runs out is no
	// error. The pull also ends when abort is done (see Pull).
	Pull(abort context.Context, n int, wait time.Duration, each func(Msg)) error
}

// SourceFunc is a Source of a function, e.g. to pull from a consumer that
// may be replaced between pulls.
type SourceFunc func(abort context.Context, n int, wait time.Duration, each func(Msg)) error

// Pull calls f.
func (f SourceFunc) Pull(abort context.Context, n int, wait time.Duration, each func(Msg)) error {
	return f(abort, n, wait, each)
}

// pullWait is how long one pull waits for messages: short, so that the
// loop's Room and After run often, and a shutdown waits at most this.
const pullWait = time.Second

// Loop is the one consumer loop of every stage: it pulls only as many
// messages as it has room for, hands each to the handler, signals progress
// while the handler works, and settles the message by the handler's
// Result. Its zero value runs one handler at a time, in order.
type Loop struct {
	Log *slog.Logger
	// Workers is how many handlers run at once. With one (or zero) the
	// handler runs in the pulling goroutine, messages in stream order;
	// with more, the loop pulls only as many as there are idle workers,
	// so that no message waits in the client while its ack wait runs out.
	Workers int
	// Heartbeat, when set, tells the server every period that a message
	// whose handler still runs is in progress. Set it to a part of the
	// consumer's ack wait.
	Heartbeat time.Duration
	// Abort, when set, ends a waiting pull and then the loop, for a
	// caller that knows no message is on its way (see Pull).
	Abort context.Context
	// Room, for a loop of one worker, is asked before every pull how many
	// messages to pull (nil: one). Zero pauses the loop for Pause.
	Room  func(ctx context.Context) int
	Pause time.Duration // default one second
	// After, when set, runs after every pull and every pause, in the
	// loop's goroutine (for a loop of one worker, between handlers).
	After func(ctx context.Context)
	// PullFailed, when set, runs after a pull failed (other than by
	// running out of time), before the loop pauses a second.
	PullFailed func(ctx context.Context, err error)
	// DeadLetter records a message settled with DeadLetter; on success
	// the message is terminated. With no hook it is terminated at once.
	DeadLetter      func(ctx context.Context, m Msg, r Result) error
	DeadLetterRetry time.Duration // a failed hook's retry delay
	// PanicRetry is when a message whose handler panicked is delivered
	// again (default a minute).
	PanicRetry time.Duration
	// Panicked, when set, is told of each handler that panicked (for a
	// metric), after the ERROR log.
	Panicked func()
}

func (lp *Loop) log() *slog.Logger {
	if lp.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return lp.Log
}

func (lp *Loop) abort() context.Context {
	if lp.Abort == nil {
		return context.Background()
	}
	return lp.Abort
}

// Run runs the loop on src until ctx or Abort ends, then waits for the
// handlers in flight: every message pulled is handled and settled, even
// during shutdown.
func (lp *Loop) Run(ctx context.Context, src Source, h Handler) error {
	if lp.Workers <= 1 {
		return lp.runInOrder(ctx, src, h)
	}
	if lp.Room != nil {
		return errors.New("bus: a loop of several workers pulls by idle workers, not by Room")
	}
	return lp.runWorkers(ctx, src, h)
}

func (lp *Loop) running(ctx context.Context) bool {
	return ctx.Err() == nil && lp.abort().Err() == nil
}

// runInOrder handles each message in the pulling goroutine.
func (lp *Loop) runInOrder(ctx context.Context, src Source, h Handler) error {
	for lp.running(ctx) {
		n := 1
		if lp.Room != nil {
			n = lp.Room(ctx)
		}
		if n > 0 {
			err := src.Pull(lp.abort(), n, pullWait, func(m Msg) { lp.handle(ctx, h, m) })
			lp.pulled(ctx, err)
		} else {
			clock.Sleep(ctx, cmpOr(lp.Pause, time.Second))
		}
		if lp.After != nil {
			lp.After(ctx)
		}
	}
	return nil
}

// runWorkers feeds Workers goroutines, pulling only for idle ones.
func (lp *Loop) runWorkers(ctx context.Context, src Source, h Handler) error {
	n := lp.Workers
	msgs := make(chan Msg)
	idle := make(chan struct{}, n)
	for range n {
		idle <- struct{}{}
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for m := range msgs {
				lp.handle(ctx, h, m)
				idle <- struct{}{}
			}
		})
	}
	defer func() {
		close(msgs)
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lp.abort().Done():
			return nil
		case <-idle:
		}
		free := 1 + drain(idle, n-1)
		got := 0
		err := src.Pull(lp.abort(), free, pullWait, func(m Msg) {
			got++
			msgs <- m
		})
		for range free - got {
			idle <- struct{}{}
		}
		lp.pulled(ctx, err)
		if lp.After != nil {
			lp.After(ctx)
		}
	}
}

// drain takes up to most more tokens that are ready and says how many.
func drain(idle chan struct{}, most int) int {
	for got := range most {
		select {
		case <-idle:
		default:
			return got
		}
	}
	return most
}

// pulled reports a failed pull and pauses, unless the loop is ending.
func (lp *Loop) pulled(ctx context.Context, err error) {
	if err == nil || !lp.running(ctx) {
		return
	}
	lp.log().Warn("consume", "err", err)
	if lp.PullFailed != nil {
		lp.PullFailed(ctx, err)
	}
	clock.Sleep(ctx, time.Second)
}

// handle runs the handler on m with a heartbeat, then settles m. A message
// taken is finished even when ctx ends: an ack lost to a cancelled context
// would leave it in flight until its ack wait ran out, and duplicate it.
func (lp *Loop) handle(ctx context.Context, h Handler, m Msg) {
	ctx = context.WithoutCancel(ctx)
	stop := beat(m, lp.Heartbeat, lp.log())
	r := lp.call(ctx, h, m)
	// Progress signals end before the message is settled: one that came
	// after a retry's delayed nak would cut the delay short.
	stop()
	_ = lp.Settle(ctx, m, r)
}

// call runs h on m. A handler that panics (a bug, met on one message:
// an article or alert built from a hostile feed) costs that message a
// delay, not the process: a stage that crashed on it would meet it again
// after every restart and stop for good. The message is delivered again
// after PanicRetry, never dropped, and each time logged at ERROR with
// the stack.
func (lp *Loop) call(ctx context.Context, h Handler, m Msg) (r Result) {
	defer func() {
		if v := recover(); v != nil {
			delay := cmpOr(lp.PanicRetry, time.Minute)
			lp.log().Error("handler failed on a message; it is delivered again later. This is a bug: please report it with the stack",
				"subject", m.Subject(), "panic", fmt.Sprint(v), "retry_in", delay, "stack", string(debug.Stack()))
			if lp.Panicked != nil {
				lp.Panicked()
			}
			r = RetryAfter(delay)
		}
	}()
	return h(ctx, m)
}

// Settle settles m by r, as the loop does with a handler's result; a
// handler that held m (Hold) settles it with this later.
func (lp *Loop) Settle(ctx context.Context, m Msg, r Result) error {
	var err error
	switch r.outcome {
	case OutcomeHold:
		return nil
	case OutcomeAck:
		err = m.Ack(ctx)
	case OutcomeRetry:
		err = m.Retry(r.delay)
	case OutcomeTerm:
		err = m.Term()
	case OutcomeDeadLetter:
		if lp.DeadLetter != nil {
			if derr := lp.DeadLetter(ctx, m, r); derr != nil {
				if err := m.Retry(lp.DeadLetterRetry); err != nil {
					lp.log().Warn("hand back a message not dead-lettered", "subject", m.Subject(), "err", err)
				}
				return derr
			}
		}
		err = m.Term()
	default:
		return fmt.Errorf("bus: unknown outcome %v", r.outcome)
	}
	if len(r.then) == 0 && err != nil {
		lp.log().Warn("settle message", "outcome", r.outcome, "subject", m.Subject(), "err", err)
	}
	for _, f := range r.then {
		f(ctx, err)
	}
	return err
}

// beat signals m in progress every period until stop is called; stop
// returns once no signal is being sent. A handler done within the first
// period costs one timer, no goroutine. The first failed signal is logged:
// the message may then be delivered again while its handler still works.
func beat(m Msg, period time.Duration, log *slog.Logger) (stop func()) {
	if period <= 0 {
		return func() {}
	}
	var mu sync.Mutex
	stopped, warned := false, false
	var t *time.Timer
	mu.Lock()
	t = time.AfterFunc(period, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if err := m.InProgress(); err != nil && !warned {
			warned = true
			log.Warn("signal message in progress; it may be delivered again while still handled", "subject", m.Subject(), "err", err)
		}
		t.Reset(period)
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Consumer is a durable JetStream consumer to pull from (see
// EnsureConsumer). It is a Source.
type Consumer struct {
	c       jetstream.Consumer
	created bool
}

// Created reports whether EnsureConsumer made the consumer, rather than
// finding it.
func (c *Consumer) Created() bool { return c.created }

// Pull implements Source over bus.Pull.
func (c *Consumer) Pull(abort context.Context, n int, wait time.Duration, each func(Msg)) error {
	batch, done, err := Pull(abort, c.c, n, wait)
	if err != nil {
		return quietExpiry(err)
	}
	defer done()
	for m := range batch.Messages() {
		each(jsMsg{m})
	}
	return quietExpiry(batch.Error())
}

// quietExpiry drops the errors of a pull that only ran out of time.
func quietExpiry(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) {
		return nil
	}
	return err
}

// jsMsg is a Msg of a JetStream message.
type jsMsg struct{ m jetstream.Msg }

func (j jsMsg) Subject() string { return j.m.Subject() }
func (j jsMsg) Data() []byte    { return j.m.Data() }
func (j jsMsg) Header(key string) string {
	if h := j.m.Headers(); h != nil {
		return h.Get(key)
	}
	return ""
}

func (j jsMsg) Meta() (Meta, error) {
	md, err := j.m.Metadata()
	if err != nil {
		return Meta{}, err
	}
	return Meta{Seq: md.Sequence.Stream, Delivered: md.NumDelivered, Stored: md.Timestamp}, nil
}

func (j jsMsg) Ack(ctx context.Context) error { return j.m.DoubleAck(ctx) }
func (j jsMsg) Term() error                   { return j.m.Term() }
func (j jsMsg) InProgress() error             { return j.m.InProgress() }

func (j jsMsg) Retry(delay time.Duration) error {
	if delay <= 0 {
		return j.m.Nak()
	}
	return j.m.NakWithDelay(delay)
}
