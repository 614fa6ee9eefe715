package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/internal/logtest"
)

// TestDurableMakesItsLostConsumerAgain deletes a stage's consumer between
// pulls: the next pulls make it again after the last settled message, so
// what waited is delivered and nothing settled comes again; and while its
// stream is gone, the stage is a store fault until it is back.
func TestDurableMakesItsLostConsumerAgain(t *testing.T) {
	b := loopBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streamCfg := jetstream.StreamConfig{Name: "DURABLE_TEST", Subjects: []string{"durable.test"}, Storage: jetstream.MemoryStorage}
	var logs logtest.Buffer
	r := newDurableRig(t, ctx, b, streamCfg, "stage", slog.New(slog.NewTextHandler(&logs, nil)))
	publish, pull, drain := r.publish, r.pull, r.drain

	publish(0, 3)
	drain(3)
	time.Sleep(floorEvery) // the next pull reads the ack floor
	if err := pull(); err != nil {
		t.Fatal(err)
	}

	if err := b.DeleteConsumer(ctx, "DURABLE_TEST", "stage"); err != nil {
		t.Fatal(err)
	}
	publish(3, 5)
	drain(5)
	if strings.Join(r.got, " ") != "m0 m1 m2 m3 m4" {
		t.Errorf("delivered %q, want m0…m4 once each", r.got)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "consumer was lost") || !strings.Contains(out, "from_seq=4") {
		t.Errorf("log does not say the consumer was made again from seq 4:\n%s", out)
	}

	// The stream gone: the stage cannot pull, and says so.
	if err := b.JS.DeleteStream(ctx, "DURABLE_TEST"); err != nil {
		t.Fatal(err)
	}
	for range durableFailures {
		if err := pull(); err == nil {
			t.Fatal("a pull on a deleted stream worked")
		}
	}
	blocking := b.Health.Blocking()
	if len(blocking) != 1 || blocking[0].Key != "consumer.error:stage.stage" || blocking[0].Kind != KindConsumerError || !strings.Contains(blocking[0].Detail, "DURABLE_TEST") {
		t.Fatalf("blocking faults %+v, want consumer.error:stage.stage naming the stream", blocking)
	}

	// Back (made again empty): the consumer is made from its start, and
	// the fault clears.
	if _, err := b.JS.CreateStream(ctx, streamCfg); err != nil {
		t.Fatal(err)
	}
	publish(0, 1)
	drain(6)
	if r.got[5] != "m0" {
		t.Errorf("after the stream came back, got %q, want m0", r.got[5])
	}
	if f := b.Health.Blocking(); len(f) != 0 {
		t.Errorf("faults %+v after the stream came back, want none", f)
	}
}

// TestDurableRemakesAWorkQueueConsumer loses the consumer of a work-queue
// stream (the fetch jobs') after its ack floor was read: JetStream takes
// no start sequence on such a stream, whose settled messages are gone
// anyway, so the consumer is made again with all that is left, and the
// jobs published since are taken.
func TestDurableRemakesAWorkQueueConsumer(t *testing.T) {
	b := loopBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newDurableRig(t, ctx, b, jetstream.StreamConfig{Name: "DURABLE_WQ", Subjects: []string{"durable.wq"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage}, "wq", nil)
	publish, pull, drain, d := r.publish, r.pull, r.drain, r.d
	publish(0, 3)
	drain(3)
	time.Sleep(floorEvery) // the next pull reads the ack floor
	if err := pull(); err != nil {
		t.Fatal(err)
	}
	if d.floor != 3 {
		t.Fatalf("floor %d, want 3", d.floor)
	}
	if err := b.DeleteConsumer(ctx, "DURABLE_WQ", "wq"); err != nil {
		t.Fatal(err)
	}
	publish(3, 5)
	drain(5)
	if strings.Join(r.got, " ") != "m0 m1 m2 m3 m4" {
		t.Errorf("delivered %q, want m0…m4 once each", r.got)
	}
}

// TestDurableFloorFollowsAStreamMadeAgain loses the stage's stream after
// its ack floor was read; the stream is made again (by another replica's
// start) and its consumer too. The floor read on the old stream says
// nothing of the new one: when the consumer is lost again before the new
// stream got that far, the consumer made again must not start after it
// and skip the new stream's messages.
func TestDurableFloorFollowsAStreamMadeAgain(t *testing.T) {
	b := loopBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streamCfg := jetstream.StreamConfig{Name: "DURABLE_AGAIN", Subjects: []string{"durable.again"}, Storage: jetstream.MemoryStorage}
	r := newDurableRig(t, ctx, b, streamCfg, "again", nil)
	publish, pull, drain, spec := r.publish, r.pull, r.drain, r.spec
	publish(0, 5)
	drain(5)
	time.Sleep(floorEvery) // the next pull reads the ack floor
	if err := pull(); err != nil {
		t.Fatal(err)
	}

	// The stream made again, empty, with its consumer, as another
	// replica's start does.
	if err := b.JS.DeleteStream(ctx, "DURABLE_AGAIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.CreateStream(ctx, streamCfg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureConsumer(ctx, "DURABLE_AGAIN", spec); err != nil {
		t.Fatal(err)
	}
	publish(5, 6)
	drain(6)
	time.Sleep(floorEvery)
	if err := pull(); err != nil {
		t.Fatal(err)
	}

	// Lost again with six new messages waiting, the first five below the
	// old stream's floor.
	publish(6, 12)
	if err := b.DeleteConsumer(ctx, "DURABLE_AGAIN", "again"); err != nil {
		t.Fatal(err)
	}
	drain(12)
	if want := "m0 m1 m2 m3 m4 m5 m6 m7 m8 m9 m10 m11"; strings.Join(r.got, " ") != want {
		t.Errorf("delivered %q, want %q", strings.Join(r.got, " "), want)
	}
}

// durableRig publishes numbered messages on a stage's stream and pulls
// them through its Durable d, acking each, keeping what came in order.
type durableRig struct {
	t       *testing.T
	ctx     context.Context
	b       *Bus
	subject string
	spec    ConsumerSpec
	d       *Durable
	got     []string
}

// newDurableRig makes the stream of cfg (one subject) and a Durable of
// the consumer durable on it.
func newDurableRig(t *testing.T, ctx context.Context, b *Bus, cfg jetstream.StreamConfig, durable string, log *slog.Logger) *durableRig {
	t.Helper()
	if _, err := b.JS.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	r := &durableRig{t: t, ctx: ctx, b: b, subject: cfg.Subjects[0],
		spec: ConsumerSpec{Durable: durable, AckWait: 5 * time.Second, MaxAckPending: 10}}
	d, err := b.Durable(ctx, cfg.Name, r.spec, log)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	return r
}

func (r *durableRig) publish(from, to int) {
	r.t.Helper()
	for i := from; i < to; i++ {
		if _, err := r.b.JS.Publish(r.ctx, r.subject, fmt.Appendf(nil, "m%d", i)); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *durableRig) pull() error {
	return r.d.Pull(r.ctx, 10, 200*time.Millisecond, func(m Msg) {
		r.got = append(r.got, string(m.Data()))
		if err := m.Ack(r.ctx); err != nil {
			r.t.Error(err)
		}
	})
}

// drain pulls until want messages came in all.
func (r *durableRig) drain(want int) {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(r.got) < want; {
		if time.Now().After(deadline) {
			r.t.Fatalf("got %q, want %d messages; faults %+v", r.got, want, r.b.Health.Blocking())
		}
		_ = r.pull()
	}
}

// TestOpenDurableThatCannotStartIsAFault: a stage whose consumer cannot be
// made when it starts (another client holds the stream's one consumer
// slot) keeps trying, and is a consumer.error fault meanwhile, not only a
// log line; once the slot is free it starts and the fault clears.
func TestOpenDurableThatCannotStartIsAFault(t *testing.T) {
	b := loopBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "DURABLE_FULL", Subjects: []string{"durable.full"},
		Storage: jetstream.MemoryStorage, MaxConsumers: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.CreateOrUpdateConsumer(ctx, "DURABLE_FULL", jetstream.ConsumerConfig{Durable: "hold", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		_, err := b.OpenDurable(ctx, "DURABLE_FULL", ConsumerSpec{Durable: "stage", AckWait: 5 * time.Second, MaxAckPending: 10}, nil)
		opened <- err
	}()
	key := StageConsumerFault("stage")
	hasFault := func() bool {
		for _, f := range b.Health.Blocking() {
			if f.Key == key {
				return true
			}
		}
		return false
	}
	waitUntil(t, "the stage's fault", 20*time.Second, hasFault)
	if err := b.DeleteConsumer(ctx, "DURABLE_FULL", "hold"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("OpenDurable did not return once the slot was free")
	}
	if hasFault() {
		t.Error("the fault is still there after the stage started")
	}
}
