package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPublishDedupesAndCounts(t *testing.T) {
	ctx, b := openTestBus(t)
	subj := b.Names.AlertSubject("t")
	first, err := b.Publish(ctx, subj, []byte(`{"n":1}`), "t:1")
	if err != nil || first.Duplicate || first.Stream != b.Names.AlertStream {
		t.Fatalf("Publish = %+v, %v", first, err)
	}
	again, err := b.Publish(ctx, subj, []byte(`{"n":1}`), "t:1")
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Errorf("repeat = %+v, %v; want a duplicate of seq %d", again, err, first.Seq)
	}
	// Without an id nothing is deduplicated.
	for range 2 {
		if _, err := b.Publish(ctx, subj, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	var pend []*PendingAck
	for i := range 3 {
		p, err := b.PublishAsync(b.Names.AlertSubject("u"), []byte(`{}`), fmt.Sprintf("u:%d", i))
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, p)
	}
	for _, p := range pend {
		if ack, err := p.Wait(ctx); err != nil || ack.Duplicate {
			t.Errorf("async ack = %+v, %v", ack, err)
		}
	}
	st, err := b.StreamState(ctx, b.Names.AlertStream)
	if err != nil || st.Msgs != 6 || st.FirstSeq != 1 || st.LastSeq != 6 {
		t.Errorf("StreamState = %+v, %v; want 6 messages", st, err)
	}
	if _, err := b.StreamState(ctx, "NO_SUCH_STREAM"); err == nil {
		t.Error("StreamState of a missing stream: no error")
	}

	n, err := b.CountSince(ctx, b.Names.AlertStream, b.Names.AlertSubject("t"), "test", time.Now().Add(-time.Hour))
	if err != nil || n != 3 {
		t.Errorf("CountSince(t) = %d, %v; want 3", n, err)
	}
	if n, err := b.CountSince(ctx, b.Names.AlertStream, b.Names.AlertSubject(">"), "test", time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("CountSince(future) = %d, %v; want 0", n, err)
	}

	if err := b.DeleteMsg(ctx, b.Names.AlertStream, first.Seq); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.StreamState(ctx, b.Names.AlertStream); st.Msgs != 5 {
		t.Errorf("after DeleteMsg: %d messages, want 5", st.Msgs)
	}
}

func TestPublishTooLarge(t *testing.T) {
	ctx, b := openTestBus(t)
	mp := b.MaxPayload()
	if mp <= 0 {
		t.Fatalf("MaxPayload = %d", mp)
	}
	_, err := b.PublishAsync(b.Names.ArticleSubject("s"), make([]byte, mp+1), "big")
	if !TooLarge(err) {
		t.Errorf("publish over MaxPayload: err = %v, want TooLarge", err)
	}
	if TooLarge(context.DeadlineExceeded) || TooLarge(errors.New("store down")) {
		t.Error("TooLarge of an unrelated error")
	}
	if _, err := b.Publish(ctx, b.Names.ArticleSubject("s"), []byte("small"), ""); err != nil {
		t.Errorf("small publish after a refused one: %v", err)
	}
}

// A pending ack whose context ends first reports the context's cause.
func TestPendingAckWaitEndsWithCtx(t *testing.T) {
	_, b := openTestBus(t)
	p, err := b.PublishAsync(b.Names.ArticleSubject("s"), []byte("x"), "")
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	// The ack may already be in: either outcome is right, but an error
	// must be the cause.
	if _, err := p.Wait(ctx); err != nil && !errors.Is(err, cause) {
		t.Errorf("Wait on an ended ctx: err = %v, want %v", err, cause)
	}
}

func TestBatchesAckAll(t *testing.T) {
	ctx, b := openTestBus(t)
	for i := range 5 {
		if _, err := b.Publish(ctx, b.Names.AlertSubject("t"), []byte(fmt.Sprint(i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	cfg := BatchConfig{Stream: b.Names.AlertStream, Durable: "test", Subject: b.Names.AlertSubject(">"),
		AckWait: time.Minute, MaxAckPending: 100}
	c, err := b.Batches(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Next(3, time.Second)
	if err != nil || len(batch.Data) != 3 || string(batch.Data[0]) != "0" || string(batch.Data[2]) != "2" {
		t.Fatalf("first batch = %q, %v", batch.Data, err)
	}
	if err := batch.Ack(); err != nil {
		t.Fatal(err)
	}
	// A new handle on the same durable goes on after the acked batch.
	c, err = b.Batches(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch, err = c.Next(10, time.Second)
	if err != nil || len(batch.Data) != 2 || string(batch.Data[0]) != "3" {
		t.Fatalf("second batch = %q, %v", batch.Data, err)
	}
	if err := (&Batch{}).Ack(); err != nil {
		t.Errorf("ack of an empty batch: %v", err)
	}
}
