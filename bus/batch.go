package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BatchConfig is a durable consumer read a batch at a time.
type BatchConfig struct {
	Stream, Durable, Description string
	Subject                      string // filter; "" for the whole stream
	AckWait                      time.Duration
	MaxAckPending                int
}

// Batches is a durable consumer, shared by every replica, that starts at
// the stream's first message and is acknowledged a batch at a time: one
// ack covers every message before it, which costs the server far less
// than an ack per message.
type Batches struct{ cons jetstream.Consumer }

// Batches creates (or updates) the consumer of cfg.
func (b *Bus) Batches(ctx context.Context, cfg BatchConfig) (*Batches, error) {
	cons, err := b.JS.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   cfg.Description,
		FilterSubject: cfg.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxAckPending,
	})
	if err != nil {
		return nil, err
	}
	return &Batches{cons}, nil
}

// Batch is the data of the messages one Next fetched, in stream order.
type Batch struct {
	Data [][]byte
	last jetstream.Msg
}

// Next fetches up to n messages, waiting at most wait for them; a batch
// may be empty. A fetch that fails (the consumer is gone, the server
// refuses) is an error, unless messages came before it: those are the
// batch, to be handled and acked, and the failure shows at the next
// call.
func (c *Batches) Next(n int, wait time.Duration) (*Batch, error) {
	mb, err := c.cons.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	b := &Batch{}
	for m := range mb.Messages() {
		b.Data = append(b.Data, m.Data())
		b.last = m
	}
	if err := mb.Error(); err != nil && len(b.Data) == 0 &&
		!errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("fetch a batch: %w", err)
	}
	return b, nil
}

// Ack acknowledges the batch, and with it every message before.
func (b *Batch) Ack() error {
	if b.last == nil {
		return nil
	}
	return b.last.Ack()
}
