package bus

import (
	"testing"
	"time"
)

// A batch whose fetch failed (here: its consumer was deleted) read as an
// empty batch: the reader waited on for messages that never came, and
// nobody was told. The failure is now Next's error.
func TestBatchFetchErrorIsReturned(t *testing.T) {
	ctx, b := openTestBus(t)
	c, err := b.Batches(ctx, BatchConfig{Stream: b.Names.AlertStream, Durable: "batch-test", AckWait: time.Minute, MaxAckPending: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(10, 100*time.Millisecond); err != nil {
		t.Fatalf("an empty stream's batch: %v, want none", err)
	}
	if err := b.JS.DeleteConsumer(ctx, b.Names.AlertStream, "batch-test"); err != nil {
		t.Fatal(err)
	}
	bt, err := c.Next(10, 500*time.Millisecond)
	if err == nil {
		t.Errorf("a batch of a deleted consumer: %d messages and no error, want an error", len(bt.Data))
	}
}
