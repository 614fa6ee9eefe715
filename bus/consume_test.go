package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"newswatch/internal/logtest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loopBus opens a bus on a fresh data dir for the consumer loop's tests.
func loopBus(t testing.TB) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// loopConsumer makes a consumer of the article subject of source, with a
// short ack wait, and publishes n messages to it.
func loopConsumer(t *testing.T, b *Bus, source string, ackWait time.Duration, n int) *Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := b.EnsureConsumer(ctx, b.Names.ArticleStream, ConsumerSpec{
		Durable:       "loop-" + source,
		Subjects:      []string{b.Names.ArticleSubject(source)},
		AckWait:       ackWait,
		MaxAckPending: 100,
		MaxDeliver:    -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := b.JS.Publish(ctx, b.Names.ArticleSubject(source), fmt.Appendf(nil, "%s-%d", source, i)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// delivery is one handler call a test saw.
type delivery struct {
	data string
	meta Meta
	at   time.Time
}

type deliveries struct {
	mu  sync.Mutex
	got []delivery
}

func (d *deliveries) add(m Msg) int {
	md, _ := m.Meta()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, delivery{data: string(m.Data()), meta: md, at: time.Now()})
	return len(d.got)
}

func (d *deliveries) list() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery(nil), d.got...)
}

// waitUntil polls cond until it holds or the time runs out.
func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func consumerState(t *testing.T, b *Bus, durable string) ConsumerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, found, err := b.LookupConsumer(ctx, b.Names.ArticleStream, durable)
	if err != nil || !found {
		t.Fatalf("consumer %s: found %v, err %v", durable, found, err)
	}
	return st
}

// TestLoopSettlesByResult runs each outcome on a message of its own over a
// real consumer: the first delivery gets the outcome, later ones an ack.
func TestLoopSettlesByResult(t *testing.T) {
	b := loopBus(t)
	const ackWait = 600 * time.Millisecond
	tests := []struct {
		name      string
		first     Result
		hookErr   error
		wantCalls int           // handler calls in all
		wantGap   time.Duration // at least this between the first two calls
		wantDead  string        // the reason the dead-letter hook got
	}{
		{name: "ack", first: Ack(), wantCalls: 1},
		{name: "retry", first: RetryAfter(400 * time.Millisecond), wantCalls: 2, wantGap: 400 * time.Millisecond},
		{name: "term", first: Term(), wantCalls: 1},
		{name: "deadletter", first: DeadLetter("gave up", 42), wantCalls: 1, wantDead: "gave up"},
		{name: "deadletterfails", first: DeadLetter("gave up", 42), hookErr: errors.New("store down"),
			wantCalls: 2, wantGap: 300 * time.Millisecond, wantDead: "gave up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loopConsumer(t, b, tt.name, ackWait, 1)
			var got deliveries
			var deadMu sync.Mutex
			var dead []string
			var thenErr []error
			lp := &Loop{
				DeadLetter: func(_ context.Context, m Msg, r Result) error {
					deadMu.Lock()
					defer deadMu.Unlock()
					if r.Detail() != 42 {
						t.Errorf("dead-letter hook got detail %v, want 42", r.Detail())
					}
					dead = append(dead, r.Reason())
					return tt.hookErr
				},
				DeadLetterRetry: 300 * time.Millisecond,
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- lp.Run(ctx, c, func(_ context.Context, m Msg) Result {
					if got.add(m) > 1 {
						return Ack()
					}
					return tt.first.Then(func(_ context.Context, err error) {
						deadMu.Lock()
						thenErr = append(thenErr, err)
						deadMu.Unlock()
					})
				})
			}()
			waitUntil(t, "the first delivery", 5*time.Second, func() bool { return len(got.list()) >= 1 })
			if tt.wantCalls > 1 {
				waitUntil(t, "the redelivery", 5*time.Second, func() bool { return len(got.list()) >= tt.wantCalls })
			}
			// Longer than the ack wait: a message left unsettled, or
			// settled wrongly, would come back meanwhile.
			time.Sleep(2 * ackWait)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			calls := got.list()
			if len(calls) != tt.wantCalls {
				t.Fatalf("handler called %d times, want %d: %+v", len(calls), tt.wantCalls, calls)
			}
			if tt.wantCalls > 1 {
				if gap := calls[1].at.Sub(calls[0].at); gap < tt.wantGap-50*time.Millisecond {
					t.Errorf("redelivered after %s, want at least %s", gap, tt.wantGap)
				}
				if calls[1].meta.Delivered != 2 || calls[1].meta.Seq != calls[0].meta.Seq {
					t.Errorf("second call meta %+v, first %+v: want the same message delivered twice", calls[1].meta, calls[0].meta)
				}
			}
			deadMu.Lock()
			defer deadMu.Unlock()
			if tt.wantDead != "" && (len(dead) != 1 || dead[0] != tt.wantDead) {
				t.Errorf("dead-letter hook got %q, want once %q", dead, tt.wantDead)
			}
			if tt.wantDead == "" && len(dead) != 0 {
				t.Errorf("dead-letter hook called with %q", dead)
			}
			// Then runs once the settle is done, but not for a dead
			// letter whose hook failed.
			wantThen := 1
			if tt.hookErr != nil {
				wantThen = 0
			}
			if len(thenErr) != wantThen || wantThen == 1 && thenErr[0] != nil {
				t.Errorf("Then ran with %v, want %d run without error", thenErr, wantThen)
			}
			if st := consumerState(t, b, "loop-"+tt.name); st.Backlog() != 0 || st.AckFloor != calls[0].meta.Seq {
				t.Errorf("consumer state %+v, want the message settled (ack floor %d)", st, calls[0].meta.Seq)
			}
		})
	}
}

// TestLoopHeartbeatKeepsLongHandler runs a handler for several ack waits
// with a second worker idle: without the heartbeat the server would hand
// the message to it again.
func TestLoopHeartbeatKeepsLongHandler(t *testing.T) {
	b := loopBus(t)
	const ackWait = 500 * time.Millisecond
	c := loopConsumer(t, b, "long", ackWait, 1)
	var got deliveries
	lp := &Loop{Workers: 2, Heartbeat: ackWait / 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- lp.Run(ctx, c, func(_ context.Context, m Msg) Result {
			if got.add(m) == 1 {
				time.Sleep(4 * ackWait)
			}
			return Ack()
		})
	}()
	waitUntil(t, "the delivery", 5*time.Second, func() bool { return len(got.list()) >= 1 })
	time.Sleep(5 * ackWait)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls := got.list(); len(calls) != 1 {
		t.Errorf("handler called %d times, want once: %+v", len(calls), calls)
	}
	if st := consumerState(t, b, "loop-long"); st.Backlog() != 0 {
		t.Errorf("consumer state %+v, want the message acked", st)
	}
}

// TestLoopShutdownFinishesInFlight ends the loop while handlers run: Run
// waits for them, their context is not cancelled, and their messages are
// settled; nothing more is pulled.
func TestLoopShutdownFinishesInFlight(t *testing.T) {
	b := loopBus(t)
	c := loopConsumer(t, b, "shutdown", 5*time.Second, 5)
	var got deliveries
	release := make(chan struct{})
	var ctxErrs sync.Map
	lp := &Loop{Workers: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- lp.Run(ctx, c, func(hctx context.Context, m Msg) Result {
			got.add(m)
			<-release
			ctxErrs.Store(string(m.Data()), hctx.Err())
			return Ack()
		})
	}()
	waitUntil(t, "two handlers running", 5*time.Second, func() bool { return len(got.list()) == 2 })
	// Only as many pulled as there are workers: the others wait in the
	// stream, not in the client.
	if st := consumerState(t, b, "loop-shutdown"); st.AckPending != 2 || st.Pending != 3 {
		t.Errorf("with two workers busy: consumer state %+v, want 2 in flight and 3 pending", st)
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while handlers were running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its handlers finished")
	}
	ctxErrs.Range(func(k, v any) bool {
		if v != nil {
			t.Errorf("handler of %v saw its context end: %v", k, v)
		}
		return true
	})
	if n := len(got.list()); n != 2 {
		t.Errorf("%d messages handled, want the 2 in flight only", n)
	}
	if st := consumerState(t, b, "loop-shutdown"); st.AckPending != 0 || st.Pending != 3 {
		t.Errorf("after shutdown: consumer state %+v, want the 2 handled acked and 3 pending", st)
	}
}

// fakeMsg records how it was settled.
type fakeMsg struct {
	mu      sync.Mutex
	settled []string
}

func (f *fakeMsg) note(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settled = append(f.settled, s)
	return nil
}

func (f *fakeMsg) Subject() string             { return "fake" }
func (f *fakeMsg) Data() []byte                { return nil }
func (f *fakeMsg) Header(string) string        { return "" }
func (f *fakeMsg) Meta() (Meta, error)         { return Meta{Seq: 1, Delivered: 1}, nil }
func (f *fakeMsg) Ack(context.Context) error   { return f.note("ack") }
func (f *fakeMsg) Retry(d time.Duration) error { return f.note("retry " + d.String()) }
func (f *fakeMsg) Term() error                 { return f.note("term") }
func (f *fakeMsg) InProgress() error           { return f.note("progress") }
func (f *fakeMsg) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.settled...)
}
func (f *fakeMsg) equal(want ...string) bool { return fmt.Sprint(f.list()) == fmt.Sprint(want) }

// TestSettleWithFake drives Settle through the Msg seam, with no server:
// the outcome picks the settle call, a hold settles nothing.
func TestSettleWithFake(t *testing.T) {
	hookFails := errors.New("store down")
	tests := []struct {
		name string
		r    Result
		hook error
		want []string
	}{
		{"ack", Ack(), nil, []string{"ack"}},
		{"retry now", RetryAfter(0), nil, []string{"retry 0s"}},
		{"retry later", RetryAfter(time.Minute), nil, []string{"retry 1m0s"}},
		{"term", Term(), nil, []string{"term"}},
		{"hold", Hold(), nil, nil},
		{"dead letter", DeadLetter("x", nil), nil, []string{"term"}},
		{"dead letter not stored", DeadLetter("x", nil), hookFails, []string{"retry 5s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeMsg{}
			lp := &Loop{
				DeadLetter:      func(context.Context, Msg, Result) error { return tt.hook },
				DeadLetterRetry: 5 * time.Second,
			}
			err := lp.Settle(context.Background(), m, tt.r)
			if !errors.Is(err, tt.hook) {
				t.Errorf("Settle = %v, want %v", err, tt.hook)
			}
			if !m.equal(tt.want...) {
				t.Errorf("settled %v, want %v", m.list(), tt.want)
			}
		})
	}
}

// progressFails is a message whose progress signals the server refuses.
type progressFails struct {
	fakeMsg
	tried chan struct{}
	once  sync.Once
}

func (p *progressFails) InProgress() error {
	p.once.Do(func() { close(p.tried) })
	return errors.New("nats: connection closed")
}

// A progress signal that fails is logged: without it the message's ack
// wait runs out while its handler still works, and it is delivered again.
func TestHeartbeatFailureLogged(t *testing.T) {
	var logs logtest.Buffer
	m := &progressFails{tried: make(chan struct{})}
	lp := &Loop{Log: slog.New(slog.NewTextHandler(&logs, nil)), Heartbeat: time.Millisecond}
	lp.handle(context.Background(), func(context.Context, Msg) Result {
		select {
		case <-m.tried:
		case <-time.After(5 * time.Second):
			t.Error("no progress signal while the handler ran")
		}
		return Ack()
	}, m)
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "connection closed") {
		t.Errorf("a failed progress signal was not logged at WARN: %q", s)
	}
}

// TestConsumerBacklogCountsJustPublished publishes one message at a time
// and asks for the backlog at once, before the server may have counted
// the message for the consumer: it is counted every time, and nothing is
// counted once the consumer took it, nor for other subjects. With one
// message held in flight (as alerts held for a digest are), the new one
// is still counted beside it.
func TestConsumerBacklogCountsJustPublished(t *testing.T) {
	for _, held := range []bool{false, true} {
		t.Run(fmt.Sprintf("held=%v", held), func(t *testing.T) { testBacklogCountsJustPublished(t, held) })
	}
}

func testBacklogCountsJustPublished(t *testing.T, held bool) {
	b := loopBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := b.EnsureConsumer(ctx, b.Names.ArticleStream, ConsumerSpec{
		Durable:       "backlog",
		Subjects:      []string{b.Names.ArticleSubject("a"), b.Names.ArticleSubject("b")},
		AckWait:       time.Minute,
		MaxAckPending: 10,
		MaxDeliver:    -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	backlog := func() uint64 {
		t.Helper()
		n, found, err := b.ConsumerBacklog(ctx, b.Names.ArticleStream, "backlog")
		if err != nil || !found {
			t.Fatalf("backlog: found %v, err %v", found, err)
		}
		return n
	}
	if n := backlog(); n != 0 {
		t.Fatalf("empty stream: backlog %d", n)
	}
	var base uint64 // messages in flight, never acked
	if held {
		if _, err := b.JS.Publish(ctx, b.Names.ArticleSubject("a"), []byte("held")); err != nil {
			t.Fatal(err)
		}
		got := 0
		if err := c.Pull(context.Background(), 1, 5*time.Second, func(Msg) { got++ }); err != nil || got != 1 {
			t.Fatalf("held message: pulled %d, err %v", got, err)
		}
		base = 1
	}
	const rounds = 300
	missed := 0
	for i := range rounds {
		other := b.Names.ArticleSubject("other")
		if _, err := b.JS.Publish(ctx, other, []byte("not ours")); err != nil {
			t.Fatal(err)
		}
		subject := b.Names.ArticleSubject([]string{"a", "b"}[i%2])
		if _, err := b.JS.Publish(ctx, subject, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		if backlog() <= base {
			missed++
		}
		got := 0
		if err := c.Pull(context.Background(), 1, 5*time.Second, func(m Msg) {
			got++
			if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}); err != nil || got != 1 {
			t.Fatalf("round %d: pulled %d, err %v", i, got, err)
		}
		if n := backlog(); n != base {
			t.Fatalf("round %d: backlog %d after the consumer took its message, want %d", i, n, base)
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d messages just published were not in the backlog", missed, rounds)
	}
}

// TestLoopSurvivesAPanickingHandler panics on the first delivery of one
// message of three: the loop handles the others, delivers that one again
// after PanicRetry, and logs the panic with its stack.
func TestLoopSurvivesAPanickingHandler(t *testing.T) {
	b := loopBus(t)
	c := loopConsumer(t, b, "panic", 5*time.Second, 3)
	var logs logtest.Buffer
	var panics atomic.Int64
	lp := &Loop{Log: slog.New(slog.NewTextHandler(&logs, nil)), PanicRetry: 300 * time.Millisecond, Panicked: func() { panics.Add(1) }}
	var got deliveries
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- lp.Run(ctx, c, func(_ context.Context, m Msg) Result {
			got.add(m)
			if md, _ := m.Meta(); string(m.Data()) == "panic-0" && md.Delivered == 1 {
				var items []string
				_ = items[2] // index out of range
			}
			return Ack()
		})
	}()
	waitUntil(t, "four deliveries", 5*time.Second, func() bool { return len(got.list()) >= 4 })
	time.Sleep(500 * time.Millisecond) // a fifth would be a message settled wrongly
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	calls := got.list()
	var order []string
	for _, d := range calls {
		order = append(order, fmt.Sprintf("%s#%d", d.data, d.meta.Delivered))
	}
	if want := "panic-0#1 panic-1#1 panic-2#1 panic-0#2"; strings.Join(order, " ") != want {
		t.Fatalf("deliveries %q, want %q", strings.Join(order, " "), want)
	}
	if gap := calls[3].at.Sub(calls[0].at); gap < 250*time.Millisecond {
		t.Errorf("panicked message came back after %s, want about PanicRetry (300ms)", gap)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", "handler failed on a message", "index out of range", "TestLoopSurvivesAPanickingHandler"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if st := consumerState(t, b, "loop-panic"); st.Backlog() != 0 {
		t.Errorf("consumer state %+v, want every message settled", st)
	}
	if n := panics.Load(); n != 1 {
		t.Errorf("Panicked told of %d panics, want 1", n)
	}
}
